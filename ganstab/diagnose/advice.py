"""What to do about a diagnosis: advice drawn from the ten lessons (docs/lessons.md), ranked by
what ganstab's corpus says helped runs like the one diagnosed.

Each item names the lesson it comes from, so a user can read the reasoning; the few basic checks
that are not lessons (data scaling, NaN in the data) say so instead of borrowing a lesson's
authority. Every item says the change in words; ganstab's `--set` keys follow in brackets only
for ganstab's own runs (`keys=True`), since on another program's log they name nothing.

Ranking (issue 15): for runs labelled X in the corpus (ground truth), each single change (SN on D,
a lower learning rate, TTUR, ...) is scored by how its *neighbours* fared: runs on the same data
set with the same loss, networks and batch size (a corpus draw's cohort shape), and learning rates
within a factor ~2 (`NEIGHBOUR_DECADES`) that have the
change, against such neighbours that do not. The share of each that converged, and how many runs
back it, come with the item; changes that did not help runs like this are not advised, and a
change that hurt (SN on an MLP generator without BatchNorm on 2-D mixtures) is advised against.
The table is computed from the corpus by `advice_table.advice_table` when the shipped models are
trained and kept in `ganstab/diagnose/models/fitted.json`.

Context (`context=`, what is known of the run; `ganstab diagnose --data/--arch/--loss`, or read
from a ganstab run's config by diagnose.logs):

- `data` ("2-D mixtures" | "images"): the table of that kind of data is read; else the whole
  corpus's (mostly 2-D mixtures). Where a kind of data has no runs to rank by, the lessons' order.
- `g` ("mlp": an MLP without BatchNorm, ganstab's G on points; "mlp-bn"; "conv": ganstab's G on
  images, with BatchNorm): the corpus measured SN on G only with ganstab's own G for each kind of
  data, so its finding is advised against only for that G; for another it is reported as untested.
  The SN-on-G caveat for an MLP without BatchNorm on low-dimensional data is given where G may be
  one (G unknown or "mlp", data not images).
- `loss` ("ns", "minimax", "ls", "hinge", "wgan-gp"): the changes are ranked by the corpus runs of
  that loss (the table's "{data}, loss {loss}" entries) where they back any change, else by all
  losses'; label smoothing is advised only for a loss with real labels (ns, minimax, ls), as the
  corpus table compares it only there.
- `uses` ({"beta1": 0.5, "sn_d": True, ...}; `ganstab diagnose --uses`, or a ganstab run's
  config): what the run already has, never advised (`already_there`; issue 30).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ganstab.diagnose.context import (
    CORPUS_G,
    G_KINDS,
    LABEL_LOSSES,
    check_context,
    loss_key,
    reads_d_wins,
)
from ganstab.diagnose.model_files import fitted
from ganstab.diagnose.result import DIVERGED, LABELS


@dataclass(frozen=True)
class Change:
    words: str  # the change in words, as an imperative
    keys: str  # ganstab's --set keys
    lesson: int | None  # None: a finding of ganstab's corpus, not one of the ten lessons
    why: str = ""  # one clause: why it may help

    @property
    def source(self) -> str:
        return f"(lesson {self.lesson})" if self.lesson else "(a finding of ganstab's corpus, not one of the lessons)"


CHANGES: dict[str, Change] = {
    "lower_lr": Change(
        "Lower both learning rates to a half or less and restart from scratch",
        "train.lr_d, train.lr_g",
        5,
        "the learning rate matters most and a collapsed run rarely recovers",
    ),
    "sn_d": Change(
        "Add spectral normalization to D's layers",
        "train.sn_d=true",
        10,
        "it bounds D's Lipschitz constant, so D cannot overpower G",
    ),
    "sn_g": Change(
        "Add spectral normalization to G's layers as well, as SAGAN does",
        "train.sn_g=true",
        10,
    ),
    "ttur": Change(
        "Give D a learning rate at least twice G's (TTUR, e.g. 4e-4 for D and 1e-4 for G); expect a higher G loss",
        "train.lr_d=4e-4 train.lr_g=1e-4",
        9,
    ),
    "label_smoothing": Change(
        "Use one-sided label smoothing: real targets 0.9 instead of 1 in D's loss",
        "train.label_smoothing=0.9",
        7,
        "so D does not become over-confident",
    ),
    "instance_noise": Change(
        "Add Gaussian noise to D's real and fake inputs, annealed to 0 over training (instance noise)",
        "train.noise_std=0.1",
        6,
        "it makes D's task harder and the game steadier at little cost",
    ),
    "lower_beta1": Change(
        "Lower Adam's beta1 (momentum) to 0.5 or 0 where it is higher (PyTorch's default is 0.9; `--uses beta1=...` says what the run has)",
        "train.beta1=0.5",
        None,
        "momentum carries both players past the equilibrium",
    ),
    "more_d_steps": Change(
        "Take more D steps per G step",
        "train.n_dis",
        4,
        "expect a small effect",
    ),
}
MIN_UPLIFT = 0.05  # converged share with the change minus without, to advise it
HURTS = -0.1  # ... and below this, to advise against it
JUDGE_BY_SAMPLES = (
    "Do not stop a run on a loss spike alone: GAN losses jump; look at the samples before "
    "giving up on it (lesson 2)."
)
_FIXED: dict[str, tuple[str, ...]] = {
    # Items that are not single changes of a configuration, after the ranked ones.
    "collapsing": (
        "Larger batches tolerate larger learning rates: if the rate must stay, raise the batch size "
        "[train.batch_size] (lesson 5).",
        "If these changes do not help, consider feature matching or minibatch discrimination, the "
        "usual alternatives against mode collapse (not built into ganstab) (lesson 5).",
    ),
    "oscillating": (JUDGE_BY_SAMPLES,),
    DIVERGED: (
        "Lower the learning rate and restart from scratch; a conservative rate is safe "
        "[train.lr_g, train.lr_d] (lesson 5).",
        "Add spectral normalization to D: it bounds D's Lipschitz constant, which keeps its outputs "
        "and gradients from exploding [train.sn_d=true] (lesson 10).",
        "Check the data scaling: inputs should lie in [-1, 1], the range of G's tanh output "
        "(a basic check, not one of the lessons).",
        "Check the data itself for NaN or Inf values (a basic check, not one of the lessons).",
    ),
    "converging": (
        "Keep training, and judge the result by its samples, not by the losses; a later loss spike "
        "alone is no reason to stop (lesson 2).",
    ),
}
# Without a corpus table (none fitted yet): the lessons' own order.
_DEFAULT_ORDER = {
    "collapsing": ("lower_lr",),
    "oscillating": ("sn_d", "label_smoothing", "instance_noise", "ttur"),
}

# D's loss near 0 while G's is high: evidence["d_wins"] > this.
D_WINS_THRESHOLD = 0.5
_D_WINS = (
    "D is winning (its loss near 0, G's high), yet more filters in G rarely help: capacity is "
    "seldom the cause [model.g_mult] (lesson 1).",
)
SN_G_MLP = (
    "Do not add spectral normalization to G if G is an MLP without BatchNorm on low-dimensional "
    "data such as 2-D mixtures: there it keeps G from making sharp clusters (docs/lessons.md, "
    "'Where the measurements disagree') [train.sn_g=false] (lesson 10)."
)


# ------------------------------------------------------------------------------------ the advice


def _item(change: str, row: dict | None, label: str, where: str) -> str:
    """One change in words; with its table row, the counts behind it (`where`: " on 2-D mixtures",
    " with the hinge loss", ...: which corpus runs they count)."""
    c = CHANGES[change]
    text = c.words + (f": {c.why}" if c.why else "")
    if row is not None:
        text += (
            f". In ganstab's corpus{where}, neighbours of {row['runs']} {label} runs (same data, loss and network size, "
            f"learning rates within a factor of 2) converged {row['converged_with']:.0%} of the time with this "
            f"change ({row['with']} runs) against {row['converged_without']:.0%} without it ({row['without']} runs)"
        )
    return f"{text} [{c.keys}] {c.source}."


def already_there(uses: dict, d_wins: bool = False) -> set[str]:
    """The changes (CHANGES keys) not to advise: those the run already has (`uses`: what
    `--uses` or a ganstab run's config says) and, when D is winning, those that make D stronger."""
    skip = {"more_d_steps", "ttur"} if d_wins else set()
    if uses.get("sn_d") is True:
        skip.add("sn_d")
    if uses.get("sn_g") is True:
        skip.add("sn_g")
    beta1, optimizer = uses.get("beta1"), uses.get("optimizer")
    if (beta1 is not None and beta1 <= 0.5) or (optimizer is not None and optimizer not in ("adam", "adamw")):
        skip.add("lower_beta1")  # already low, or an optimizer without Adam's beta1
    if uses.get("label_smoothing") is not None and uses["label_smoothing"] < 1:
        skip.add("label_smoothing")
    if uses.get("noise_std") is not None and uses["noise_std"] > 0:
        skip.add("instance_noise")
    if uses.get("lr_d") is not None and uses.get("lr_g") is not None and uses["lr_d"] >= 2 * uses["lr_g"]:
        skip.add("ttur")
    return skip


def _ranked(
    label: str, context: str, table: dict, g: str | None, loss: str | None, skip: set[str] = frozenset()
) -> tuple[list[str], list[str]]:
    rows = table.get(context, {}).get(label)
    where = "" if context == "any" else f" on {context}"
    # the runs of the user's loss where they back any change (WGAN-GP's collapse is not NS's)
    if loss is not None and table.get(loss_key(context, loss), {}).get(label):
        rows, where = table[loss_key(context, loss)][label], f"{where} with the {loss} loss"
    if not rows:  # no table, or no runs of this kind with neighbours both ways: the lessons' order
        rows = None
    skip = set(skip)
    if loss is not None and loss not in LABEL_LOSSES:  # no real label to smooth (hinge, WGAN-GP)
        skip.add("label_smoothing")
    if rows is None:
        return [_item(ch, None, label, where) for ch in _DEFAULT_ORDER.get(label, ()) if ch not in skip], []
    rows = [r for r in rows if r["change"] not in skip]
    good = [_item(r["change"], r, label, where) for r in rows if r["uplift"] >= MIN_UPLIFT]
    bad = [r for r in rows if r["uplift"] <= HURTS and r["change"] not in skip - {"sn_g"}]
    against = []
    if context == "any":  # what "against" rests on: say which runs those were
        where = " (mostly MLPs on 2-D mixtures)" + where
    for r in bad:
        c = CHANGES[r["change"]]
        counts = (
            f"In ganstab's corpus{where}, neighbours of {r['runs']} {label} runs converged {r['converged_with']:.0%} "
            f"of the time with it ({r['with']} runs) against {r['converged_without']:.0%} without "
            f"({r['without']} runs) [{c.keys}] {c.source}."
        )
        if r["change"] == "sn_g" and g is not None and g != CORPUS_G[context]:
            # measured on another G than the user's: report it, do not advise either way
            against.append(
                f"Spectral normalization on G is untested here for G as {G_KINDS[g]}: ganstab's corpus{where} "
                f"measured it {'mostly' if context == 'any' else 'only'} with G as {G_KINDS[CORPUS_G[context]]}, "
                f"where it hurt. " + counts
            )
            continue
        against.append(f"Not advised here: {c.words[0].lower()}{c.words[1:]}. " + counts)
    return good, against


_KEYS = re.compile(r" \[[^\]]*\]")


def advice_for(
    label: str,
    evidence: dict[str, float],
    context: dict | None = None,
    *,
    keys: bool = True,
    table: dict | None = None,
) -> list[str]:
    """Advice for a diagnosis: "D wins" first when the evidence says so (and the loss, if known,
    is one whose values stay >= 0: NS, minimax, LS), then the changes the
    corpus says helped runs with this label (best first, with the counts behind them), then the
    label's other items, then what the corpus advises against.

    `context`: what is known of the run, e.g. {"data": "2-D mixtures", "g": "mlp", "loss": "ns",
    "uses": {"beta1": 0.5, "sn_d": True}} (module docstring; `already_there` says what "uses" leaves
    out, and a D that wins drops the changes that make D stronger); without it the whole corpus's table is read and SN on G comes with its
    caveat. `keys`: add ganstab's `--set` keys in brackets (ganstab's own runs); off for another
    program's log, whose advice is words.
    """
    if label not in (*LABELS, DIVERGED):
        raise ValueError(f"No advice for label {label!r}; expected one of: {', '.join((*LABELS, DIVERGED))}.")
    context = check_context(context)
    data, g, loss = context.get("data"), context.get("g"), context.get("loss")
    where = data or "any"
    items: list[str] = []
    try:
        d_wins = float(evidence.get("d_wins", math.nan))
    except (TypeError, ValueError):
        d_wins = math.nan
    wins = label != DIVERGED and d_wins > D_WINS_THRESHOLD and reads_d_wins(loss)
    if wins:
        items += _D_WINS
    skip = already_there(context.get("uses", {}), wins)
    against: list[str] = []
    if label in ("collapsing", "oscillating"):
        good, against = _ranked(label, where, fitted("ADVICE_TABLE") if table is None else table, g, loss, skip)
        items += good
    # a fixed item that adds a change the run has (SN on D for a diverged run) is left out too
    items += [i for i in _FIXED[label] if not any(f"[{CHANGES[c].keys}]" in i for c in skip)]
    items += against
    # The caveat holds wherever G may be an MLP without BatchNorm on low-dimensional data.
    g_may_be_mlp = g in (None, "mlp") and where != "images"
    if label in ("collapsing", "oscillating") and g_may_be_mlp and not any(
        "spectral normalization to G" in i for i in against
    ):
        items.append(SN_G_MLP)
    items = list(dict.fromkeys(items))
    return items if keys else [_KEYS.sub("", i) for i in items]

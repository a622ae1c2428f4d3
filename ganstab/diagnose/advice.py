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
The table is computed from the corpus by `advice_table` when the shipped models are trained and
kept in `ganstab/diagnose/fitted.py`.

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
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ganstab.diagnose.corpus import POINT_DATASETS
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
        "Lower Adam's beta1 (momentum) from 0.9 to 0.5 or 0",
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
# Neighbours: learning rates within this many decades (0.35: a factor of about 2.2).
NEIGHBOUR_DECADES = 0.35
MIN_RUNS = 10  # runs labelled X that must have neighbours both ways before a change is scored
MIN_UPLIFT = 0.05  # converged share with the change minus without, to advise it
HURTS = -0.1  # ... and below this, to advise against it
CONTEXTS = ("2-D mixtures", "images", "any")
MIXTURES = POINT_DATASETS  # the corpus's 2-D data sets
# What `context` may say of G and of the loss; G's words for the advice's text.
G_KINDS = {"mlp": "an MLP without BatchNorm", "mlp-bn": "an MLP with BatchNorm", "conv": "a conv net with BatchNorm"}
LOSS_KINDS = ("ns", "minimax", "ls", "hinge", "wgan-gp")
LABEL_LOSSES = ("ns", "minimax", "ls")  # losses with a real label that one-sided smoothing can lower


def reads_d_wins(loss: str | None) -> bool:
    """Whether "D wins" (evidence d_wins: D's loss falling towards 0) means anything for a run of
    `loss` (None: not known). A WGAN-GP critic's or a hinge D's loss falls below 0 in any healthy
    run, so for those it says nothing: no advice item and no evidence row."""
    return loss in (None, *LABEL_LOSSES)
# ganstab's own G on each kind of data (engine/networks.py): the G every corpus measurement was made with.
CORPUS_G = {"2-D mixtures": "mlp", "images": "conv", "any": "mlp"}

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


# ------------------------------------------------------------------------------ the corpus table


def _config(overrides: Iterable[str]) -> dict[str, float | str | bool]:
    cfg: dict[str, float | str | bool] = {
        "loss": "ns", "sn_d": False, "sn_g": False, "label_smoothing": 1.0, "noise_std": 0.0, "n_dis": 1,
    }
    # the networks' and batches' shape (a draw's cohort shape, corpus.Draw): runs are neighbours
    # only within one shape, as a small net's short runs are not a wide net's
    cfg["shape"] = ",".join(sorted(o for o in overrides if o.startswith(("model.", "train.batch_size="))))
    for o in overrides:
        key, _, value = o.partition("=")
        key = key.removeprefix("train.")
        if key in ("sn_d", "sn_g"):
            cfg[key] = value == "true"
        elif key == "loss":
            cfg[key] = value
        elif key in ("lr_d", "lr_g", "beta1", "label_smoothing", "noise_std", "n_dis"):
            cfg[key] = float(value)
    return cfg


def _has(change: str, c: dict) -> bool:
    if change == "sn_d":
        return bool(c["sn_d"])
    if change == "sn_g":
        return bool(c["sn_g"])
    if change == "label_smoothing":
        return c["label_smoothing"] < 1.0
    if change == "instance_noise":
        return c["noise_std"] > 0
    if change == "ttur":
        return c["lr_d"] >= 2 * c["lr_g"]
    if change == "lower_beta1":
        return c["beta1"] <= 0.5
    raise KeyError(change)


def _close(a: float, b: float) -> bool:
    return abs(math.log10(a) - math.log10(b)) <= NEIGHBOUR_DECADES


def _neighbours(change: str, r: dict, s: dict) -> bool | None:
    """True: s is r with the change; False: s is a neighbour without it; None: not comparable."""
    if r["dataset"] != s["dataset"] or r["loss"] != s["loss"] or r["shape"] != s["shape"] or r is s:
        return None
    if change == "lower_lr":
        if not (_close(r["lr_d"], s["lr_d"]) or s["lr_d"] <= r["lr_d"] / 2) or not (
            _close(r["lr_g"], s["lr_g"]) or s["lr_g"] <= r["lr_g"] / 2
        ):
            return None
        lower = r["lr_d"] / 10 <= s["lr_d"] <= r["lr_d"] / 2 and r["lr_g"] / 10 <= s["lr_g"] <= r["lr_g"] / 2
        same = _close(r["lr_d"], s["lr_d"]) and _close(r["lr_g"], s["lr_g"])
        return True if lower else False if same else None
    if change == "more_d_steps":
        if not (_close(r["lr_d"], s["lr_d"]) and _close(r["lr_g"], s["lr_g"])):
            return None
        return True if s["n_dis"] > r["n_dis"] else False if s["n_dis"] == r["n_dis"] else None
    if change == "ttur":  # same G rate, D's at least twice G's
        if not _close(r["lr_g"], s["lr_g"]):
            return None
        return _has("ttur", s)
    if change == "label_smoothing" and r["loss"] not in LABEL_LOSSES:
        return None
    if not (_close(r["lr_d"], s["lr_d"]) and _close(r["lr_g"], s["lr_g"])):
        return None
    return _has(change, s)


def _applicable(change: str, r: dict) -> bool:
    """Whether the change is a change for run r (it does not have it already)."""
    if change in ("lower_lr", "more_d_steps"):
        return change != "more_d_steps" or r["n_dis"] < 3
    if change == "label_smoothing" and r["loss"] not in LABEL_LOSSES:
        return False
    return not _has(change, r)


def loss_key(context: str, loss: str) -> str:
    """The advice table's key for the runs of one loss in a context, e.g. "2-D mixtures, loss hinge"."""
    return f"{context}, loss {loss}"


def advice_table(runs: list[dict]) -> dict[str, dict[str, list[dict]]]:
    """{context: {label: [row per change, best first]}} from corpus runs, each a dict with
    `dataset`, `label` (ground truth), `overrides`; each context also once per loss
    (`loss_key`), from that loss's runs alone. A row: change, runs (runs labelled X that had
    neighbours both ways), with / without (neighbours), and the converged share of each (mean over
    the runs of their neighbours' share, so a run with many neighbours does not outweigh others)."""
    rows = [{**_config(r["overrides"]), "dataset": r["dataset"], "label": r["label"]} for r in runs]
    by_data: dict[str, list[dict]] = {}
    for s in rows:
        by_data.setdefault(s["dataset"], []).append(s)
    table: dict[str, dict[str, list[dict]]] = {}
    for context, loss in [(c, None) for c in CONTEXTS] + [(c, x) for c in CONTEXTS for x in LOSS_KINDS]:
        key = context if loss is None else loss_key(context, loss)
        table[key] = {}
        for label in ("collapsing", "oscillating"):
            out = []
            for change in CHANGES:
                n_runs, with_share, without_share, with_ids, without_ids = 0, [], [], set(), set()
                for r in rows:
                    if r["label"] != label or not _in(context, r["dataset"]) or not _applicable(change, r):
                        continue
                    if loss is not None and r["loss"] != loss:  # neighbours share r's loss already
                        continue
                    yes, no = [], []
                    for i, s in enumerate(by_data[r["dataset"]]):
                        side = _neighbours(change, r, s)
                        if side is True:
                            yes.append((i, s))
                        elif side is False:
                            no.append((i, s))
                    if yes and no:
                        n_runs += 1
                        with_share.append(sum(s["label"] == "converging" for _, s in yes) / len(yes))
                        without_share.append(sum(s["label"] == "converging" for _, s in no) / len(no))
                        with_ids |= {(r["dataset"], i) for i, _ in yes}
                        without_ids |= {(r["dataset"], i) for i, _ in no}
                if n_runs >= MIN_RUNS:
                    w, wo = sum(with_share) / n_runs, sum(without_share) / n_runs
                    out.append({"change": change, "runs": n_runs, "with": len(with_ids), "without": len(without_ids),
                                "converged_with": round(w, 3), "converged_without": round(wo, 3),
                                "uplift": round(w - wo, 3)})
            table[key][label] = sorted(out, key=lambda row: -row["uplift"])
    return table


def _in(context: str, dataset: str) -> bool:
    if context == "any":
        return True
    return (dataset in MIXTURES) == (context == "2-D mixtures")


def _table() -> dict:
    try:
        from ganstab.diagnose.fitted import ADVICE_TABLE
    except ImportError:  # not fitted yet
        return {}
    return ADVICE_TABLE


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


def _ranked(label: str, context: str, table: dict, g: str | None, loss: str | None) -> tuple[list[str], list[str]]:
    rows = table.get(context, {}).get(label)
    where = "" if context == "any" else f" on {context}"
    # the runs of the user's loss where they back any change (WGAN-GP's collapse is not NS's)
    if loss is not None and table.get(loss_key(context, loss), {}).get(label):
        rows, where = table[loss_key(context, loss)][label], f"{where} with the {loss} loss"
    if not rows:  # no table, or no runs of this kind with neighbours both ways: the lessons' order
        rows = None
    if loss is not None and loss not in LABEL_LOSSES:  # no real label to smooth (hinge, WGAN-GP)
        skip = {"label_smoothing"}
    else:
        skip = set()
    if rows is None:
        return [_item(ch, None, label, where) for ch in _DEFAULT_ORDER.get(label, ()) if ch not in skip], []
    rows = [r for r in rows if r["change"] not in skip]
    good = [_item(r["change"], r, label, where) for r in rows if r["uplift"] >= MIN_UPLIFT]
    bad = [r for r in rows if r["uplift"] <= HURTS]
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


def check_context(context: dict | None) -> dict:
    """The context with its values checked; a ValueError names the key and the value."""
    context = dict(context or {})
    allowed = {"data": CONTEXTS[:2], "g": tuple(G_KINDS), "loss": LOSS_KINDS}
    for key, value in context.items():
        if key not in allowed:
            raise ValueError(f"Unknown context key {key!r} (value {value!r}); expected one of: {', '.join(allowed)}.")
        if value is not None and value not in allowed[key]:
            name = {"data": "data context", "g": "G architecture", "loss": "loss"}[key]
            raise ValueError(f"Unknown {name} {value!r}; expected one of: {', '.join(allowed[key])}.")
    return {k: v for k, v in context.items() if v is not None}


def describe_context(context: dict) -> str:
    """The context in words, e.g. "2-D mixtures, G an MLP without BatchNorm, loss hinge"."""
    parts = []
    if context.get("data"):
        parts.append(context["data"])
    if context.get("g"):
        parts.append(f"G {G_KINDS[context['g']]}")
    if context.get("loss"):
        parts.append(f"loss {context['loss']}")
    return ", ".join(parts)


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

    `context`: what is known of the run, e.g. {"data": "2-D mixtures", "g": "mlp", "loss": "ns"}
    (module docstring); without it the whole corpus's table is read and SN on G comes with its
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
    if label != DIVERGED and d_wins > D_WINS_THRESHOLD and reads_d_wins(loss):
        items += _D_WINS
    against: list[str] = []
    if label in ("collapsing", "oscillating"):
        good, against = _ranked(label, where, _table() if table is None else table, g, loss)
        items += good
    items += _FIXED[label]
    items += against
    # The caveat holds wherever G may be an MLP without BatchNorm on low-dimensional data.
    g_may_be_mlp = g in (None, "mlp") and where != "images"
    if label in ("collapsing", "oscillating") and g_may_be_mlp and not any(
        "spectral normalization to G" in i for i in against
    ):
        items.append(SN_G_MLP)
    items = list(dict.fromkeys(items))
    return items if keys else [_KEYS.sub("", i) for i in items]

"""The trace columns a log is mapped onto, and how a log's own names are found for them: the
schema name first, then common aliases (`COLUMN_ALIASES`, matched case-insensitively), or the
name the user gave with `tags` (`ganstab diagnose --tag COLUMN=NAME`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ganstab.diagnose.features import OPTIONAL_COLUMNS
from ganstab.diagnose.logs.results import LogError

REQUIRED = ("step", "d_loss", "g_loss")
OPTIONAL = OPTIONAL_COLUMNS
COLUMNS = REQUIRED + OPTIONAL
VALUE_COLUMNS = COLUMNS[1:]  # every column but `step` (TensorBoard takes the step from the event)
# Columns a logger measures on every step: a NaN written there is a non-finite value, not a gap
# (g_move comes on evaluation rows only and data_spread is a constant, so NaN means "not measured").
EVERY_STEP = ("d_loss", "g_loss", "d_real", "d_fake", "grad_norm_d", "grad_norm_g", "g_spread", "g_drift")

# Names tried for each column, in order of preference; matched case-insensitively, exact first.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "step": ("step", "global_step", "iteration", "iters", "iter", "it", "batches_done", "n_iter"),
    "d_loss": (
        "d_loss",
        "loss_d",
        "Loss/D",
        "Loss/d_loss",
        "loss/discriminator",
        "train/d_loss",
        "train/loss_d",
        "D/loss",
        "lossD",
        "errD",
        "err_D",
        "d_cost",
        "disc_loss",
        "discriminator_loss",
        "D loss",  # Keras-GAN's and PyTorch-GAN's printed `[D loss: ...]`
    ),
    "g_loss": (
        "g_loss",
        "loss_g",
        "Loss/G",
        "Loss/g_loss",
        "loss/generator",
        "train/g_loss",
        "train/loss_g",
        "G/loss",
        "lossG",
        "errG",
        "err_G",
        "g_cost",
        "gen_loss",
        "generator_loss",
        "G loss",  # Keras-GAN's and PyTorch-GAN's printed `[G loss: ...]`
    ),
    # D's outputs as the PyTorch DCGAN tutorial and code copied from it log them: D(x) on the real
    # batch, D(G(z)) on the fake one, before D's step (D_G_z1) and after it (D_G_z2, G's step);
    # the one before D's step is what D's loss on that row saw. Probabilities there, logits in
    # ganstab's traces: classifier.d_output_probabilities reads either.
    "d_real": ("d_real", "D(x)", "D_x", "Dx", "D/real", "d_out_real", "real_score", "score/real", "d_real_prob"),
    "d_fake": (
        "d_fake",
        "D(G(z))",
        "D_G_z1",
        "D_G_z",
        "D(G(z))_1",
        "D_G_z2",
        "DGz",
        "D/fake",
        "d_out_fake",
        "fake_score",
        "score/fake",
        "d_fake_prob",
    ),
    "grad_norm_d": ("grad_norm_d", "grad_norm/D", "d_grad_norm", "GradNorm/D"),
    "grad_norm_g": ("grad_norm_g", "grad_norm/G", "g_grad_norm", "GradNorm/G"),
    "g_spread": ("g_spread",),
    "g_drift": ("g_drift",),
    "data_spread": ("data_spread",),
    "g_move": ("g_move",),
}


def check_tags(tags: dict[str, str]) -> dict[str, str]:
    unknown = [c for c in tags if c not in COLUMNS]
    if unknown:
        raise LogError(f"tags: `{shown(unknown[0])}` is not a trace column; choose from: {', '.join(COLUMNS)}.")
    return dict(tags)


def resolve(
    names: Iterable[str],
    tags: dict[str, str],
    columns: tuple[str, ...],
    path: Path,
    kind: str,
) -> dict[str, str]:
    """{schema column: its name in the log}: the `tags` override, else the first alias present."""
    names = list(names)
    exact = set(names)
    lower: dict[str, str] = {}
    for n in names:
        lower.setdefault(n.lower(), n)
    found: dict[str, str] = {}
    for col in columns:
        if col in tags:
            if tags[col] not in exact:
                raise LogError(
                    f"`{path}` has no {kind} `{shown(tags[col])}` (given for {col}); its {kind}s: {_listing(names)}."
                )
            found[col] = tags[col]
            continue
        aliases = COLUMN_ALIASES[col]
        name = next((a for a in aliases if a in exact), None)
        name = name or next((lower[a.lower()] for a in aliases if a.lower() in lower), None)
        if name is not None:
            found[col] = name
        elif col in REQUIRED:
            tried = ", ".join(aliases[:4]) + ", ..."
            raise LogError(
                f"`{path}` needs a `{col}` {kind} (tried {tried}); found: {_listing(names)}. "
                f"Name it with tags, e.g. {col}=NAME."
            )
    return found


def _listing(names: list[str], limit: int = 30) -> str:
    if not names:
        return "(none)"
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(map(shown, names[:limit])) + more


def shown(name: str) -> str:
    """A log's name for a column as an error message shows it: as it is, or with its line breaks
    and other unprintable characters escaped, so that the message stays one line."""
    return name if name.isprintable() else repr(name)[1:-1]

"""What is known of a diagnosed run, for its advice (`context=`; `ganstab diagnose --data/--arch/
--loss`, or read from a ganstab run's config by diagnose.logs): the kind of data, G's architecture
and the loss, checked and put in words. advice.py's docstring says what each changes."""

from __future__ import annotations

CONTEXTS = ("2-D mixtures", "images", "any")
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


def loss_key(context: str, loss: str) -> str:
    """The advice table's key for the runs of one loss in a context, e.g. "2-D mixtures, loss hinge"."""
    return f"{context}, loss {loss}"


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

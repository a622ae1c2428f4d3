"""What is known of a diagnosed run, for its advice (`context=`; `ganstab diagnose --data/--arch/
--loss`, or read from a ganstab run's config by diagnose.logs): the kind of data, G's architecture
and the loss, checked and put in words. advice.py's docstring says what each changes."""

from __future__ import annotations

CONTEXTS = ("2-D mixtures", "images", "any")
# What `context` may say of G and of the loss; G's words for the advice's text.
G_KINDS = {"mlp": "an MLP without BatchNorm", "mlp-bn": "an MLP with BatchNorm", "conv": "a conv net with BatchNorm",
           "user": "your own network (model.generator)"}  # fmt: skip
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


# What the run already uses (`ganstab diagnose --uses KEY=VALUE`, or a ganstab run's config), so
# that the advice never tells a run to add what it has: each key and the kind of its value.
USES: dict[str, type] = {
    "optimizer": str,  # adam, rmsprop, sgd, ...
    "beta1": float,
    "beta2": float,
    "lr_d": float,
    "lr_g": float,
    "n_dis": float,  # D steps per G step
    "sn_d": bool,  # spectral normalization on D
    "sn_g": bool,
    "label_smoothing": float,  # D's real target (0.9: one-sided smoothing; 1: none)
    "noise_std": float,  # instance noise on D's inputs (0: none)
}
OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd", "other")


def parse_uses(items: list[str]) -> dict:
    """`--uses KEY=VALUE` items as {key: value} of USES's kinds; a ValueError names the bad item."""
    out: dict = {}
    for item in items:
        key, sep, raw = (x.strip() for x in item.partition("="))
        if not sep or not raw:
            raise ValueError(f"--uses must look like KEY=VALUE (e.g. beta1=0.5), but got {item!r}.")
        out[key] = raw
    return check_uses(out)


def check_uses(uses: dict) -> dict:
    """`uses` with each value of its key's kind (text as given on a command line is converted)."""
    out: dict = {}
    for key, value in uses.items():
        kind = USES.get(key)
        if kind is None:
            raise ValueError(f"Unknown --uses key {key!r} (value {value!r}); expected one of: {', '.join(USES)}.")
        text = str(value).strip().lower()
        if kind is bool:
            if isinstance(value, bool) or text in ("true", "false", "yes", "no", "1", "0"):
                out[key] = value if isinstance(value, bool) else text in ("true", "yes", "1")
                continue
            raise ValueError(f"--uses {key} must be true or false, but got {value!r}.")
        if kind is str:
            if text not in OPTIMIZERS:
                raise ValueError(f"--uses {key} must be one of {', '.join(OPTIMIZERS)}, but got {value!r}.")
            out[key] = text
            continue
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"--uses {key} must be a number, but got {value!r}.") from None
    return out


def check_context(context: dict | None) -> dict:
    """The context with its values checked; a ValueError names the key and the value."""
    context = dict(context or {})
    if context.get("uses") is not None:
        context["uses"] = check_uses(context["uses"])
    allowed = {"data": CONTEXTS[:2], "g": tuple(G_KINDS), "loss": LOSS_KINDS}
    for key, value in context.items():
        if key == "uses":
            continue
        if key not in allowed:
            raise ValueError(f"Unknown context key {key!r} (value {value!r}); expected one of: {', '.join(allowed)}.")
        if value is not None and value not in allowed[key]:
            name = {"data": "data context", "g": "G architecture", "loss": "loss"}[key]
            raise ValueError(f"Unknown {name} {value!r}; expected one of: {', '.join(allowed[key])}.")
    return {k: v for k, v in context.items() if v is not None and v != {}}


def describe_context(context: dict) -> str:
    """The context in words, e.g. "2-D mixtures, G an MLP without BatchNorm, loss hinge"."""
    parts = []
    if context.get("data"):
        parts.append(context["data"])
    if context.get("g"):
        parts.append(f"G {G_KINDS[context['g']]}")
    if context.get("loss"):
        parts.append(f"loss {context['loss']}")
    if context.get("uses"):
        parts.append("already using " + ", ".join(f"{k}={_value(v)}" for k, v in context["uses"].items()))
    return ", ".join(parts)


def _value(v) -> str:
    return str(v).lower() if isinstance(v, bool) else f"{v:g}" if isinstance(v, float) else str(v)

"""A toy corpus for the advice tests: on ring8, collapsed runs' neighbours with SN on D converged,
those with SN on G did not."""

from __future__ import annotations


def _run(dataset, label, **cfg):
    base = {"loss": "ns", "lr_d": 1e-3, "lr_g": 1e-3, "beta1": 0.5, "sn_d": "false", "sn_g": "false"}
    base.update(cfg)
    return {"dataset": dataset, "label": label, "overrides": [f"train.{k}={v}" for k, v in base.items()]}


# A toy corpus: on ring8, collapsed runs' neighbours with SN on D converged, those with SN on G did not.
TOY = (
    [_run("ring8", "collapsing", lr_d=1e-3 * (1 + i / 40)) for i in range(12)]
    + [_run("ring8", "converging", sn_d="true", lr_d=1.1e-3) for _ in range(6)]
    + [_run("ring8", "collapsing", sn_g="true", lr_d=1.2e-3) for _ in range(6)]
)

"""The GAN training engine: config, data, cohort networks, losses, tricks, loop, metrics, traces.

It knows nothing of Optuna, Ray or the diagnosis classifier; searches drive it through
`CohortTrainer.train(report=...)`.
"""

from ganstab.engine.config import Config, ConfigError, apply_overrides, load_yaml, preset, resolve
from ganstab.engine.trainer import CohortTrainer, train

__all__ = [
    "CohortTrainer",
    "Config",
    "ConfigError",
    "apply_overrides",
    "load_yaml",
    "preset",
    "resolve",
    "train",
]

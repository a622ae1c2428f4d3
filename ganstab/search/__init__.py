"""The search layer: YAML search spaces, Optuna studies and Ray Tune trials over the engine."""

"""Search spaces: which config keys a search varies, over which ranges, under which conditions.

A search space is a YAML file (`search_spaces/*.yaml`) with four top-level keys::

    description: TTUR and tricks around the lessons default   # optional, free text
    base: lessons          # optional: a preset (ganstab.engine.config.PRESETS); default: the config defaults
    fixed:                 # optional: values every trial gets; full dotted config keys
      train.steps: 3000
    params:                # the searched keys, in this order
      train.lr_d: {log_uniform: [1e-5, 1e-2]}         # float on a log scale (0 < low < high)
      train.beta1: {uniform: [0.0, 0.9]}               # float; `step: 0.1` makes it discrete
      train.batch_size: {int: [32, 256], log: true}    # integer; `step: 32` (instead of log) for a grid
      train.loss: {choice: [ns, hinge, wgan-gp]}       # categorical: numbers, strings, true/false, null
      train.gp_weight: {log_uniform: [1, 50], when: {train.loss: wgan-gp}}
      train.label_smoothing: {choice: [0.9, 1.0], when: {train.loss: [ns, minimax, ls]}, otherwise: 1.0}
      train.noise_std: {choice: [0.0, 0.1]}
      train.noise_anneal: {uniform: [0.25, 1.0], when: {train.noise_std: {gt: 0}}}

Every param is a mapping with exactly one distribution (`log_uniform`, `uniform`, `int`, `choice`)
and optionally:

- `when: {KEY: CONDITION, ...}`: the param is sampled only when every condition holds. KEY must be
  a param listed above this one or a `fixed` key. CONDITION is a value (equal to it), a list (one
  of them), or a mapping with one operator: `eq`, `ne`, `in`, `not_in`, `gt`, `ge`, `lt`, `le`.
  A condition is checked against the value the trial will run with: the sampled value, else the
  referenced param's `otherwise`, else the base/fixed value.
- `otherwise: VALUE`: the value the key takes in trials where `when` does not hold. Without it the
  key keeps its base (or default) value, which must then be valid in those trials: for example
  `base: lessons` has label smoothing 0.9, which hinge and wgan-gp reject.

Conditional params are suggested to Optuna only where they apply, so the dashboard shows them only
for those trials. `load_space` checks everything it can before any trial runs: keys, types,
bounds, choices, registered losses and data sets, conditions, and that every corner of the space
(each choice, each bound, with its conditions made true) resolves to a valid config. Each error
names the file, the key and the rule broken.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from ganstab.search.space_model import SearchSpace, SpaceError
from ganstab.search.space_reader import read_space, yaml_error_line
from ganstab.shipped import shipped_dir

__all__ = ["SPACES_DIR", "SpaceError", "find_space", "load_space"]

# The shipped spaces: search_spaces/ of a checkout, or their copy inside an installed package.
SPACES_DIR = shipped_dir("search_spaces")


def find_space(name_or_path: str | Path) -> Path:
    """A path as given if it exists, else the shipped space of that name (`quick`, `quick.yaml`
    or `search_spaces/quick.yaml`), from the checkout's search_spaces/ or the installed package."""
    path = Path(name_or_path)
    if path.exists():
        return path
    stem = path.stem if path.suffix in (".yaml", ".yml") else path.name
    shipped = SPACES_DIR / f"{stem}.yaml"
    if path.parent in (Path("."), Path("search_spaces")) and stem and shipped.is_file():
        return shipped
    known = sorted(p.stem for p in SPACES_DIR.glob("*.yaml"))
    if not known:  # a broken installation, not a typo: say where the spaces should have been
        raise SpaceError(f"{name_or_path}: no such search-space file, and no shipped spaces in {SPACES_DIR}.")
    close = difflib.get_close_matches(stem, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise SpaceError(
        f"{name_or_path}: no such search-space file, and no shipped space of that name (shipped: "
        f"{', '.join(known)}).{hint}"
    )


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key given twice, which plain YAML silently resolves to the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_space(path: str | Path) -> SearchSpace:
    """Read and check a search-space YAML file; raise SpaceError naming the file, key and problem."""
    path = Path(path)
    try:
        with path.open() as stream:  # a stream, so YAML's error marks name the file
            doc = yaml.load(stream, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except OSError as e:
        raise SpaceError(f"{path}: cannot read the search space: {e.strerror}.") from e
    except yaml.YAMLError as e:
        raise SpaceError(f"{path}: not valid YAML: {yaml_error_line(e)}") from e
    return read_space(path, doc)

"""The layers of docs/architecture.md, checked on the source: imports point down only.

Every `import` in a module counts, the lazy ones inside functions too: a lazy import still ties
the lower layer to the upper one. Modules at the top of the package (ganstab/checks.py, ...) are
the floor every layer may stand on; they import no layer themselves.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ganstab"

# What each layer may import of ganstab, besides itself and the floor (top-level modules).
ALLOWED: dict[str, set[str]] = {
    "engine": set(),
    "storage": set(),
    "diagnose": {"engine", "storage"},
    "dashboard": {"storage"},
    "search": {"engine", "storage", "diagnose"},
    "recommend": {"engine", "storage", "diagnose", "search", "zoo"},
    "cli": {"engine", "storage", "diagnose", "dashboard", "search", "recommend", "zoo"},
    "zoo": {"engine"},
}
# Third-party packages a layer must never import, even lazily.
FORBIDDEN_THIRD_PARTY: dict[str, set[str]] = {
    "engine": {"optuna", "ray", "optuna_dashboard"},
    "zoo": {"optuna", "ray", "optuna_dashboard", "torch"},
    "storage": {"torch", "torchvision", "sklearn", "ray", "optuna_dashboard"},
    "diagnose": {"ray", "optuna_dashboard"},
    "dashboard": {"torch", "ray", "sklearn"},
}
# Heavy optional packages: imported inside functions only, never when a module is imported.
LAZY_ONLY = {"ray", "optuna_dashboard", "torch_fidelity"}


def _layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    if len(rel.parts) == 1:
        return "cli" if rel.stem in ("cli", "__main__", "api") else "floor"
    return rel.parts[0]


def _imports(tree: ast.AST) -> list[tuple[str, int, bool]]:
    """(module imported, line, at module level) for every absolute import in `tree`."""
    top = {id(node) for node in getattr(tree, "body", [])}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno, id(node) in top))
    return found


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "_shipped" not in p.parts)


def test_the_layers_are_the_packages():
    """A new package must be given its place in ALLOWED before it can import anything."""
    layers = {_layer(p) for p in _modules()} - {"floor"}
    assert layers <= set(ALLOWED), f"packages without a layer rule: {sorted(layers - set(ALLOWED))}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path):
    layer = _layer(path)
    tree = ast.parse(path.read_text(), filename=str(path))
    wrong = []
    for name, line, at_top in _imports(tree):
        parts = name.split(".")
        if parts[0] == "ganstab" and len(parts) > 1:
            target = parts[1]
            target_is_layer = (PACKAGE / target).is_dir()
            if layer == "floor":
                # the floor imports no layer (ganstab/__init__'s lazy attribute names are the
                # one exception: `ganstab.StabilityMonitor` without importing torch up front)
                if target_is_layer and path.name != "__init__.py":
                    wrong.append(f"line {line}: the floor imports the layer {target!r}")
            elif target_is_layer and target != layer and target not in ALLOWED[layer]:
                wrong.append(f"line {line}: {layer} imports {name}")
        elif parts[0] in FORBIDDEN_THIRD_PARTY.get(layer, ()):
            wrong.append(f"line {line}: {layer} imports {name}")
        if parts[0] in LAZY_ONLY and at_top:
            wrong.append(f"line {line}: {name} imported when the module is imported (make it lazy)")
    assert not wrong, "\n".join(wrong)


def test_rules_catch_an_upward_import():
    """The check itself: an engine module importing the search layer is reported."""
    tree = ast.parse("def f():\n    from ganstab.search.driver import run_search\n")
    (name, line, at_top), = _imports(tree)
    assert (name, line, at_top) == ("ganstab.search.driver", 2, False)
    assert "search" not in ALLOWED["engine"]

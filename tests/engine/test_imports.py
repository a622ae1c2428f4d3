"""No engine module imports another in a circle (imports inside functions count; those under
TYPE_CHECKING do not, as they never run), and the engine imports nothing above it."""

from __future__ import annotations

import ast
from pathlib import Path

import ganstab

ROOT = Path(ganstab.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in (ROOT / "engine").rglob("*.py"):
        name = ".".join(("ganstab", *path.relative_to(ROOT).with_suffix("").parts))
        out[name.removesuffix(".__init__")] = path
    return out


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    typing_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
    return names


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    # a module's import of its own package (or the package's of its modules) is Python's, not a circle
    related = lambda a, b: a.startswith(b + ".") or b.startswith(a + ".")  # noqa: E731
    return {m: {n for n in _imports(p) if n in mods and n != m and not related(m, n)} for m, p in mods.items()}


def test_no_engine_module_imports_another_in_a_circle():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            assert state.get(n) != 1, " -> ".join([*path, m, n])
            if n not in state:
                visit(n, [*path, m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


def test_the_engine_imports_nothing_above_it():
    for name, path in _modules().items():
        above = {n for n in _imports(path) if n.startswith("ganstab.") and not n.startswith("ganstab.engine")}
        assert not above, f"{name} imports {sorted(above)}"


def test_the_data_set_registry_reads_neither_config_nor_data():
    names = _imports(ROOT / "engine" / "dataset_registry.py")
    assert not names & {"ganstab.engine.config", "ganstab.engine.data"}

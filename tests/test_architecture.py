"""The layout's promises, checked on the source: no import cycle among ccgate's modules (lazy
imports inside functions included), no SQL in the CLI or the dashboard layer, and the CLI never
imports another CLI module's logic."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ccgate"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every ccgate module `path` imports, at the top or inside a function (TYPE_CHECKING-only ones aside)."""
    tree = ast.parse(path.read_text())
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only.update(id(child) for child in ast.walk(node))
    found = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("ccgate"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ccgate"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(
                    candidate if (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).exists() else node.module
                )
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in modules and m != name} for name, path in modules.items()}


def test_the_import_graph_has_no_cycle() -> None:
    edges = graph()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_cli_and_web_hold_no_sql() -> None:
    for layer in ("cli", "web"):
        for path in (PACKAGE / layer).rglob("*.py"):
            text = path.read_text()
            assert "sqlite3.connect" not in text and "execute(" not in text, path


def test_no_cli_module_imports_another_cli_modules_logic() -> None:
    shared = {"ccgate.cli._common", "ccgate.cli.main", "ccgate.cli.entry"}
    for name, imported in graph().items():
        if name.startswith("ccgate.cli.") and name not in shared:
            others = {m for m in imported if m.startswith("ccgate.cli.") and m not in shared}
            assert not others, f"{name} imports {sorted(others)}"


def test_no_domain_module_imports_the_cli() -> None:
    for name, imported in graph().items():
        if not name.startswith("ccgate.cli") and name != "ccgate.__main__":
            assert not {m for m in imported if m.startswith("ccgate.cli")}, name


def test_one_module_connects_to_the_usage_log() -> None:
    connecting = sorted(
        str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py") if "sqlite3.connect(" in path.read_text()
    )
    # sealed.py holds its own database (sealed.db), not the usage log.
    assert connecting == ["sealed.py", "usage/db.py"]

"""The architecture holds: the domain imports no adapter, storage no bot, and no modules of bot/ import each other in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ADAPTER_LIBRARIES = {
    "wechaty", "wechaty_puppet", "wechaty_puppet_service", "grpclib", "sqlmodel", "sqlalchemy", "psycopg",
    "apscheduler", "jinja2", "typer", "rich", "openpyxl", "matplotlib", "sklearn", "numpy", "jieba", "rjieba",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(package: str) -> dict[str, Path]:
    return {module_name(p): p for p in sorted((ROOT / package).rglob("*.py"))}


def imports(path: Path, known: set[str]) -> set[str]:
    """Every module a file imports, anywhere in it (functions too), resolved to a known module when it is one."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return found


def test_the_domain_imports_no_adapter_and_no_other_package():
    routing = modules("routing")
    for name, path in routing.items():
        for imported in imports(path, set(routing)):
            top = imported.split(".")[0]
            assert top not in ADAPTER_LIBRARIES | {"bot", "storage", "templates"}, f"{name} imports {imported}"


def test_storage_does_not_import_the_bot():
    storage = modules("storage")
    for name, path in storage.items():
        for imported in imports(path, set(storage)):
            assert imported.split(".")[0] != "bot", f"{name} imports {imported}"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def bot_graph() -> dict[str, set[str]]:
    bot = modules("bot")
    known = set(bot)
    return {name: {m for m in imports(path, known) if m in known} for name, path in bot.items()}


def test_no_modules_of_bot_import_each_other_in_a_circle():
    assert cycles(bot_graph()) == []


@pytest.mark.parametrize("graph, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": set()}, []),
    ({"a": {"a"}}, [["a"]]),
])
def test_the_cycle_check_finds_cycles(graph, expected):
    assert cycles(graph) == expected


def test_every_module_opens_with_a_line_saying_what_it_is_for():
    for package in ("bot", "routing", "storage"):
        for name, path in modules(package).items():
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
            assert doc and doc.strip(), f"{name} has no docstring"

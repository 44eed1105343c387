"""The layers and their one import direction (docs/architecture.md), read from the source.

vectorstore imports neither app nor ingest; ingest does not import app (its __main__
aside); app and ingest use vectorstore only through its public API; no module imports
another's private names; the modules import no one in a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import vectorstore

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "ingest", "vectorstore")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {
        module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))
    }


def imports(path: Path) -> Iterator[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import in the file, those
    inside functions included: a lazy import is a dependency all the same."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [a.name for a in node.names], node.lineno


ALL = modules()


def test_layers_import_in_one_direction() -> None:
    wrong = []
    for name, path in ALL.items():
        top = name.split(".")[0]
        for target, _, line in imports(path):
            goes_to = target.split(".")[0]
            if top == "vectorstore" and goes_to in ("app", "ingest"):
                wrong.append(f"{name}:{line} imports {target}")
            if top == "ingest" and goes_to == "app" and name != "ingest.__main__":
                wrong.append(f"{name}:{line} imports {target}")
    assert wrong == [], "\n".join(wrong)


def test_app_and_ingest_use_only_the_public_api_of_vectorstore() -> None:
    public = set(vectorstore.__all__)
    wrong = []
    for name, path in ALL.items():
        if name.startswith("vectorstore"):
            continue
        for target, names, line in imports(path):
            if target.startswith("vectorstore."):
                wrong.append(f"{name}:{line} imports {target}")
            elif target == "vectorstore" and not set(names) <= public:
                wrong.append(f"{name}:{line} imports {sorted(set(names) - public)}")
    assert wrong == [], "\n".join(wrong)


def test_the_public_api_names_what_it_loads() -> None:
    for name in vectorstore.__all__:
        assert getattr(vectorstore, name) is not None, name
    with pytest.raises(AttributeError):
        _ = vectorstore.no_such_name  # type: ignore[attr-defined]


def test_no_private_name_is_imported_from_another_module() -> None:
    wrong = [
        f"{name}:{line} imports {n} from {target}"
        for name, path in ALL.items()
        for target, names, line in imports(path)
        if target.split(".")[0] in PACKAGES
        for n in names
        if n.startswith("_") and not n.startswith("__")
    ]
    assert wrong == [], "\n".join(wrong)


def test_no_import_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for name, path in ALL.items():
        targets = graph.setdefault(name, set())
        for target, names, _ in imports(path):
            # `from package import module` depends on the module, not on the package.
            found = [f"{target}.{n}" for n in names if f"{target}.{n}" in ALL]
            if not found and target in ALL:
                found = [target]
            targets.update(t for t in found if t != name and not name.startswith(t + "."))
    cycles = []
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == [], "\n".join(cycles)

"""The package's arrows run one way (README, "The code").

    cli -> site -> deliver -> build -> render -> source -> model, errors, diagnostics

A module may import its own package and any package below it, never one above;
inside ``render/`` a format's package (``pdf/``, ``epub/``, ``email/``) never
imports another format's, and the modules the formats share import none of them
(the table of formats, ``render/__init__``, imports each one's declaration only).
Every import statement counts, the ones inside functions too: an import moved into
a function to dodge a cycle is still an arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "publisher"

#: Layer of each top-level part of the package, lowest first.
LAYERS = {
    "model": 0, "errors": 0, "diagnostics": 0,
    "source": 1,
    "render": 2,
    "build": 3,
    "deliver": 4,
    "site": 5,
    "cli": 6,
    "__main__": 7, "wsgi": 7,  # the entry points
}
#: The formats' packages: every package of render/ (each declares its format).
FORMATS = tuple(sorted(p.parent.name for p in (PACKAGE / "render").glob("*/__init__.py")))


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every ``publisher...`` module the file imports, anywhere in it."""
    found: set[str] = set()
    module = _module_name(path)
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "publisher")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] != "publisher":
                continue
            # ``from publisher.render import confine``: the submodule is the target; the
            # package itself only when a name is not a submodule
            for alias in node.names:
                candidate = PACKAGE.parent / Path(*target.split("."), alias.name)
                if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
                    found.add(f"{target}.{alias.name}")
                else:
                    found.add(target)
    # A submodule's own packages are imported before it, always: not an arrow.
    return {t for t in found if not module.startswith(t + ".")}


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _format(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) > 2 and parts[1] == "render" and parts[2] in FORMATS:
        return parts[2]
    return None


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {_part(m) for m in MODULES} - {""}
    assert parts <= set(LAYERS), f"give these a layer in LAYERS: {parts - set(LAYERS)}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_point_down(module: str) -> None:
    if module == "publisher":
        return
    layer = LAYERS[_part(module)]
    upward = sorted(t for t in GRAPH[module]
                    if t != "publisher" and LAYERS.get(_part(t), -1) > layer)
    assert not upward, f"{module} (layer {layer}) imports a layer above it: {upward}"
    if _part(module) == "model":
        assert not GRAPH[module], f"the model imports nothing of the project: {GRAPH[module]}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _part(m) == "render"))
def test_formats_do_not_import_each_other(module: str) -> None:
    own = _format(module)
    others = sorted(t for t in GRAPH[module] if _format(t) not in (None, own))
    if module == "publisher.render":
        # The table of formats: each format's declaration (its package's __init__), never
        # a module of it (a renderer is imported by name, when its format renders).
        deeper = [t for t in others if len(t.split(".")) > 3]
        assert not deeper, f"the table of formats imports a format's module: {deeper}"
    elif own is None:
        assert not others, f"{module} is shared by the formats but imports one: {others}"
    else:
        assert not others, f"{module} imports another format's package: {others}"


def test_there_is_no_import_cycle() -> None:
    # Tarjan-free: a depth-first search that reports the first back edge as a path.
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH.get(node, ())):
            if nxt not in MODULES or nxt == "publisher":
                continue
            # a package's __init__ is imported with its submodules; only real modules count
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for module in sorted(MODULES):
        if module not in state and (cycle := visit(module)):
            pytest.fail("import cycle: " + " -> ".join(cycle))

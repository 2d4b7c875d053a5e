"""The package's shape: the public API, one-way imports, folder rules, one table of streams."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import ganaug
from ganaug import _rng

PACKAGE = Path(ganaug.__file__).parent
# the top level holds only these modules; everything else lives in a folder of its concept
TOP_LEVEL = {"__init__", "__main__", "_version", "_rng", "_images", "_files", "_dist"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _all_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """Module -> the ganaug modules it imports, anywhere in its body (functions included)."""
    modules = _all_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node)
                # "from . import x" names a submodule x when there is one
                targets = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
                targets = targets or [base]
            for t in targets:
                while t and t not in modules:
                    t = t.rpartition(".")[0]  # a name inside a module -> the module
                if t.startswith("ganaug") and t != name:
                    deps.add(t)
        graph[name] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                return stack[stack.index(v) :] + [v]
            if v not in state and (found := visit(v)):
                return found
        stack.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if u not in state and (found := visit(u)):
            return found
    return None


def test_no_import_cycle_between_modules():
    # a package's own __init__ re-exports its modules, which import each other through it;
    # the cycle that matters is between modules, so edges into a package's __init__ are ignored
    graph = import_graph()
    packages = {n for n, p in _all_modules().items() if p.name == "__init__.py"}
    modules_only = {u: {v for v in vs if v not in packages} for u, vs in graph.items()}
    assert find_cycle(modules_only) is None, (
        f"import cycle: {' -> '.join(find_cycle(modules_only))}"
    )


def test_folders_import_one_way():
    """Between the concept folders (and the top-level helpers) the imports point one way."""
    graph = import_graph()

    def folder(m: str) -> str:
        parts = m.split(".")
        return parts[1] if len(parts) > 1 else "ganaug"

    between: dict[str, set[str]] = {}
    for u, vs in graph.items():
        if folder(u) == "ganaug":  # the package's own __init__ re-exports everything
            continue
        between.setdefault(folder(u), set()).update(folder(v) for v in vs if folder(v) != folder(u))
    cycle = find_cycle(between)
    assert cycle is None, f"folders import each other: {' -> '.join(cycle)}"


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_top_level_holds_only_the_entry_points_and_tiny_helpers():
    found = {p.stem for p in PACKAGE.glob("*.py")}
    assert found == TOP_LEVEL, f"move these into a concept folder: {sorted(found - TOP_LEVEL)}"


def test_every_public_name_resolves():
    for name in ganaug.__all__:
        assert getattr(ganaug, name) is not None, name
    assert sorted(dir(ganaug)) == sorted(ganaug.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ganaug.nope  # noqa: B018


def test_functions_stay_functions_after_importing_every_submodule():
    names = [m.name for m in pkgutil.walk_packages(ganaug.__path__, "ganaug.")]
    for name in names:
        if name.endswith(("albu", "__main__")):
            continue  # albu needs the optional albumentations; __main__ runs the CLI
        importlib.import_module(name)
    for fn in ("export", "train", "evaluate", "load", "save", "mix"):
        assert isinstance(getattr(ganaug, fn), types.FunctionType), fn
    import ganaug.io.exporter as m  # a module import binds the module

    assert isinstance(m, types.ModuleType)


def test_no_submodule_is_named_after_a_function_its_package_exports():
    for info in pkgutil.walk_packages(ganaug.__path__, "ganaug."):
        if not info.ispkg:
            continue
        pkg = importlib.import_module(info.name)
        subs = {m.name for m in pkgutil.iter_modules(pkg.__path__)}
        clash = subs & set(getattr(pkg, "__all__", ()))
        assert not clash, f"{info.name}: submodules {clash} share a name with exported names"
    top = {m.name for m in pkgutil.iter_modules(ganaug.__path__)}
    assert not top & set(ganaug.__all__)


def test_import_ganaug_and_the_cli_stay_light():
    code = (
        "import sys, ganaug, ganaug.cli; ganaug.cli.build_parser(); "
        "print(sorted(m for m in ('torch', 'torchvision', 'h5py', 'torchmetrics') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_stream_ids_are_one_table_of_distinct_values():
    values = list(_rng.STREAMS.values())
    assert len(values) == len(set(values)) >= 10
    # no other module defines a hash stream of its own
    for path in PACKAGE.rglob("*.py"):
        if path.name == "_rng.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    assert not (isinstance(t, ast.Name) and t.id.startswith("STREAM")), path

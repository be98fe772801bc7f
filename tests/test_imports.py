"""The import graph of catlas has no cycles (issue 42 item 4).

Built with ``ast`` from the source (nothing is imported): an edge A -> B for every ``import`` of
a catlas module B by module A. Imports under ``if TYPE_CHECKING:`` are left out (they never run).
Top-level imports must form no cycle; neither may they together with the imports inside
functions, so that no function-level import is there only to dodge a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _modules() -> dict[str, Path]:
    mods = {}
    for p in sorted((SRC / "catlas").rglob("*.py")):
        parts = list(p.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def _type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or \
        (isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(mod: str, path: Path, mods: dict[str, Path], functions: bool) -> set[str]:
    """catlas modules ``mod`` imports (at module level; also inside functions if ``functions``)."""
    package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
    out: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for n in body:
            if isinstance(n, ast.Import):
                out.update(a.name for a in n.names if a.name in mods)
            elif isinstance(n, ast.ImportFrom):
                base = n.module or ""
                if n.level:
                    base = ".".join(package[: len(package) - n.level + 1] + ([n.module] if n.module else []))
                for a in n.names:
                    if f"{base}.{a.name}" in mods:
                        out.add(f"{base}.{a.name}")
                    elif base in mods:
                        out.add(base)
            elif isinstance(n, ast.If) and _type_checking(n):
                continue
            elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if functions:
                    visit(n.body)
            else:
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(n, field, None) or [])
                for h in getattr(n, "handlers", None) or []:
                    visit(h.body)

    visit(ast.parse(path.read_text(), str(path)).body)
    out.discard(mod)
    return out


def import_graph(functions: bool = False) -> dict[str, set[str]]:
    """Module -> the catlas modules it imports."""
    mods = _modules()
    return {m: _imports(m, p, mods, functions) for m, p in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def test_the_graph_sees_the_package():
    g = import_graph()
    assert {"catlas", "catlas.run", "catlas.surface", "catlas.runfiles", "catlas.train.loop"} <= set(g)
    assert "catlas.surface" in g["catlas.correspond"] and "catlas.runfiles" in g["catlas.rundir"]


def test_cycles_are_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_at_top_level():
    assert cycles(import_graph()) == []


def test_no_import_cycles_with_function_level_imports():
    assert cycles(import_graph(functions=True)) == []


# the pipeline's order: data -> model -> losses -> train -> surface/correspond -> evaluate ->
# export/render -> api/cli. The training stage imports nothing that comes after it.
ABOVE_TRAIN = ("catlas.run", "catlas.api", "catlas.bench", "catlas.cli", "catlas.correspond",
               "catlas.surface", "catlas.tracked_mesh", "catlas.evaluate", "catlas.export", "catlas.render")


def _above_train(module: str) -> bool:
    return any(module == a or module.startswith(a + ".") for a in ABOVE_TRAIN)


def test_train_imports_nothing_above_it():
    g = import_graph(functions=True)  # top-level and function-level imports
    train = [m for m in g if m == "catlas.train" or m.startswith("catlas.train.")]
    assert "catlas.train.loop" in train and "catlas.train.steptime" in train
    bad = {m: sorted(d for d in g[m] if _above_train(d)) for m in train}
    assert {m: d for m, d in bad.items() if d} == {}


def test_the_pipeline_check_sees_upward_imports():
    assert _above_train("catlas.run") and _above_train("catlas.evaluate.metrics")
    assert not _above_train("catlas.runfiles") and not _above_train("catlas.surfaces")

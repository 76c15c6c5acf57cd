"""Report import cycles inside the zenkai_np package (exit status 1 if there are any).

    python scripts/check_import_cycles.py            # module-level imports
    python scripts/check_import_cycles.py --lazy     # also imports inside functions

The graph is read from the source with ``ast`` (nothing is imported): one node
per module of zenkai_np/**/*.py, an edge for every ``import zenkai_np...`` and
every relative import. ``from p import x`` is an edge to the module p.x where x
is a module, else to p (x is then a name p's ``__init__`` must have bound: the
"partially initialized module" case when p is being imported). Importing a.b.c
also runs the ``__init__`` of a and a.b: edges to those packages too, except to
the packages that enclose the importing module (they are initialised first).
back. Used by tests/runtime/test_import_graph.py.
"""
from __future__ import annotations

import argparse
import ast
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1] / "zenkai_np"


def module_name(path: pathlib.Path, root: pathlib.Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_nodes(tree):
    """Statements run at import time: the module body, into if/try/with blocks,
    not into function or class bodies' functions."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_of(path: pathlib.Path, name: str, lazy: bool = False) -> set:
    """Names ``path`` (module ``name``) imports: ``p.x`` for ``from p import x``, else the
    module named; absolute zenkai_np imports and relative ones."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = ast.walk(tree) if lazy else _top_level_nodes(tree)
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "zenkai_np")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[:len(base) - node.level + (1 if is_pkg else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "zenkai_np":
                mod = node.module
            else:
                continue
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def graph(root: pathlib.Path = ROOT, lazy: bool = False):
    """``(modules, edges)``: {name: path} and {name: set of module names it runs}."""
    mods = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    edges = {}
    for name, path in mods.items():
        own_packages = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        if path.name == "__init__.py":
            own_packages.add(name)
        targets = set()
        for t in imports_of(path, name, lazy):
            while t and t not in mods:      # `from p import f`, f not a module: p itself
                t = t.rpartition(".")[0]
            parts = t.split(".")
            for i in range(1, len(parts) + 1):  # t and the packages it runs first
                target = ".".join(parts[:i])
                if target in mods and target not in own_packages and target != name:
                    targets.add(target)
        edges[name] = targets
    return mods, edges


def cycles(edges: dict) -> list:
    """One cycle per strongly connected component with more than one module
    (Tarjan), each as a closed path [a, b, ..., a]."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(_path_in(sorted(comp), edges))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(edges):
        if v not in index:
            strong(v)
    return out


def _path_in(comp, edges):
    """A closed path through the component's first module (breadth-first)."""
    start, members = comp[0], set(comp)
    prev, queue = {start: None}, [start]
    for v in queue:
        for w in sorted(edges.get(v, ())):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return [start] + path[::-1][1:] + [start] if v != start else [start, start]
            if w in members and w not in prev:
                prev[w] = v
                queue.append(w)
    return comp


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lazy", action="store_true",
                    help="also count imports inside functions")
    args = ap.parse_args(argv)
    mods, edges = graph(lazy=args.lazy)
    found = cycles(edges)
    kind = "module-level and lazy" if args.lazy else "module-level"
    n_edges = sum(len(v) for v in edges.values())
    print(f"{len(mods)} modules, {n_edges} {kind} import edges: {len(found)} cycle(s)")
    for c in found:
        print("  " + " -> ".join(c))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

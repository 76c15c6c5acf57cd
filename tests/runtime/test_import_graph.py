"""The package's import graph: no cycles, and arrows point down the layers.

Every import statement counts, including the ones inside functions (a lazy
import still ties two modules together).
"""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2] / "zenkai_np"
if not ROOT.is_dir():
    pytest.skip("needs the source tree", allow_module_level=True)

# layer of each top-level name: a module may import only from its own layer or lower ones
LAYERS = {"core": 0, "framework": 1, "fractional": 2, "bplambda": 2, "moments": 2,
          "examples": 3, "demo": 3, "bench": 3, "testing": 3, "sklearn": 3}


def module_name(path):
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path, name):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("zenkai_np"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[:len(base) - node.level + (1 if is_pkg else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("zenkai_np"):
                mod = node.module
            else:
                continue
            out.add(mod)
            for a in node.names:        # `from . import x` imports the module x
                out.add(f"{mod}.{a.name}")
    return out


def graph():
    mods = {module_name(p): p for p in ROOT.rglob("*.py")}
    edges = {}
    for name, path in mods.items():
        targets = {t for t in imports_of(path, name) if t in mods and t != name}
        # importing a.b.c runs a and a.b first; a package's own __init__ is its container
        edges[name] = {t for t in targets if not name.startswith(t + ".")}
    return mods, edges


def layer(name):
    parts = name.split(".")
    return LAYERS.get(parts[1], 0) if len(parts) > 1 and parts[1] in LAYERS else (
        LAYERS["core"] if len(parts) > 1 else None)


def test_no_import_cycles():
    mods, edges = graph()
    edges = {k: {t for t in v if t != "zenkai_np"} for k, v in edges.items() if k != "zenkai_np"}
    state, stack, cycles = {}, [], []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for t in sorted(edges.get(n, ())):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[n] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_arrows_point_down():
    mods, edges = graph()
    bad = []
    for src, targets in edges.items():
        if src == "zenkai_np":
            continue
        for t in targets:
            if t == "zenkai_np":
                continue
            ls, lt = layer(src), layer(t)
            same_part = src.split(".")[1] == t.split(".")[1]
            if lt > ls or (lt == ls and ls == 2 and not same_part):
                bad.append(f"{src} -> {t}")
    assert not bad, "imports against the layering: " + ", ".join(sorted(bad))

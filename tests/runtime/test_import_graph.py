"""The package's import graph: no cycles, and arrows point down the layers.

The graph is read by scripts/check_import_cycles.py. Every import statement
counts, including the ones inside functions (a lazy import still ties two
modules together), and importing a module counts as running its packages'
``__init__``.
"""
import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2] / "zenkai_np"
if not ROOT.is_dir():
    pytest.skip("needs the source tree", allow_module_level=True)

# layer of each top-level name: a module may import only from its own layer or lower ones
LAYERS = {"core": 0, "framework": 1, "fractional": 2, "bplambda": 2, "moments": 2,
          "examples": 3, "demo": 3, "bench": 3, "testing": 3, "sklearn": 3}


def _checker():
    """scripts/check_import_cycles.py, the one import-graph reader (loaded by path)."""
    path = ROOT.parent / "scripts" / "check_import_cycles.py"
    spec = importlib.util.spec_from_file_location("check_import_cycles", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def graph():
    return _checker().graph(ROOT, lazy=True)


def layer(name):
    parts = name.split(".")
    return LAYERS.get(parts[1], 0) if len(parts) > 1 and parts[1] in LAYERS else (
        LAYERS["core"] if len(parts) > 1 else None)


@pytest.mark.parametrize("lazy", [False, True])
def test_no_import_cycles(lazy):
    checker = _checker()
    _, edges = checker.graph(ROOT, lazy=lazy)
    cycles = checker.cycles(edges)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_checker_finds_a_cycle(tmp_path):
    pkg = tmp_path / "zenkai_np"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("from . import c\n")
    (pkg / "sub" / "b.py").write_text("")
    (pkg / "sub" / "c.py").write_text("def f():\n    from ..a import g\n")
    checker = _checker()
    assert checker.cycles(checker.graph(pkg)[1]) == []          # the back edge is lazy
    assert checker.cycles(checker.graph(pkg, lazy=True)[1]) == [
        ["zenkai_np.a", "zenkai_np.sub", "zenkai_np.sub.c", "zenkai_np.a"]]


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

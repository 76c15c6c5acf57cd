"""Property-based tests (hypothesis) of the BP(λ) eligibility-trace kernels.

For fixed Jacobians the fused step E ← decay·J_b E_b + [i = j] u_b is linear in
(E, u) jointly and the contraction dΘ = scale·Σ δ E is linear in δ and in E
(zenkai_np/bplambda/traces.py); a batch element's trace depends only on its own
slice; no result depends on the thread count (bitwise), on every SIMD path.
Tolerances are relative to the largest entry of the terms compared.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zenkai_np as zk
from zenkai_np.bplambda import trace_contract, trace_step

pytestmark = pytest.mark.kernel
SETTINGS = settings(max_examples=50, deadline=None)
RTOL = {np.float64: 1e-12, np.float32: 2e-5}

problems = st.fixed_dictionaries({
    "S": st.integers(1, 12), "B": st.integers(1, 6), "P": st.integers(1, 13),
    "seed": st.integers(0, 2**32 - 1), "dtype": st.sampled_from([np.float64, np.float32]),
    "jac": st.sampled_from(["shared", "shared_no_a", "batched"]),
    "decay": st.sampled_from([0.0, 0.3, 0.95]),
})


def _ops(p):
    """(random draws of the problem's dtype, Jacobian keywords of the chosen path)."""
    rng = np.random.default_rng(p["seed"])
    S, B, dt = p["S"], p["B"], p["dtype"]

    def c(*shape):
        return rng.standard_normal(shape).astype(dt)

    jac = {"shared": {"W": c(S, S) / np.sqrt(S), "a": c(B, S)},
           "shared_no_a": {"W": c(S, S) / np.sqrt(S)},
           "batched": {"J": c(B, S, S) / np.sqrt(S)}}[p["jac"]]
    return c, {k: v.astype(dt) for k, v in jac.items()}


def _close(got, want, scale, dtype):
    err = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
    assert err <= RTOL[dtype] * max(scale, 1e-30), (err, scale)


def _step(E, u, jac, p, delta=None, **kw):
    E = E.copy()
    th = trace_step(E, u, decay=p["decay"], delta=delta, scale=1.0 / p["B"], **jac, **kw)
    return E, th


@SETTINGS
@given(p=problems, alpha=st.floats(-2, 2), beta=st.floats(-2, 2))
def test_step_linear_in_trace_and_input(p, alpha, beta):
    c, jac = _ops(p)
    S, B, P, dt = p["S"], p["B"], p["P"], p["dtype"]
    E1, E2 = c(S, B, S, P), c(S, B, S, P)
    u1, u2 = c(B, P), c(B, P)
    a, b = dt(alpha), dt(beta)
    n1, _ = _step(E1, u1, jac, p)
    n2, _ = _step(E2, u2, jac, p)
    n, _ = _step(a * E1 + b * E2, a * u1 + b * u2, jac, p)
    scale = abs(alpha) * np.max(np.abs(n1)) + abs(beta) * np.max(np.abs(n2))
    _close(n, a * n1 + b * n2, scale, dt)


@SETTINGS
@given(p=problems, alpha=st.floats(-2, 2), beta=st.floats(-2, 2))
def test_contraction_linear_in_delta_and_in_trace(p, alpha, beta):
    c, _ = _ops(p)
    S, B, P, dt = p["S"], p["B"], p["P"], p["dtype"]
    E1, E2 = c(S, B, S, P), c(S, B, S, P)
    d1, d2 = c(B, S), c(B, S)
    a, b = dt(alpha), dt(beta)
    c1, c2 = trace_contract(E1, d1), trace_contract(E1, d2)
    _close(trace_contract(E1, a * d1 + b * d2), a * c1 + b * c2,
           abs(alpha) * np.max(np.abs(c1)) + abs(beta) * np.max(np.abs(c2)), dt)
    e2 = trace_contract(E2, d1)
    _close(trace_contract(a * E1 + b * E2, d1), a * c1 + b * e2,
           abs(alpha) * np.max(np.abs(c1)) + abs(beta) * np.max(np.abs(e2)), dt)


@SETTINGS
@given(p=problems, cut=st.tuples(st.integers(0, 6), st.integers(0, 6)))
def test_batch_element_depends_only_on_its_slice(p, cut):
    c, jac = _ops(p)
    S, B, P, dt = p["S"], p["B"], p["P"], p["dtype"]
    i, j = sorted(v % (B + 1) for v in cut)
    if i == j:
        j = min(i + 1, B) if i < B else i
        i = j - 1
    E, u = c(S, B, S, P), c(B, P)
    full, _ = _step(E, u, jac, p)
    sub = {k: (v if k == "W" else v[i:j]) for k, v in jac.items()}
    q = dict(p, B=j - i)
    part, _ = _step(np.ascontiguousarray(E[:, i:j]), u[i:j], sub, q)
    _close(part, full[:, i:j], np.max(np.abs(full[:, i:j])), dt)


@SETTINGS
@given(p=problems, spare=st.booleans())
def test_bits_independent_of_threads(p, spare):
    c, jac = _ops(p)
    S, B, P = p["S"], p["B"], p["P"]
    E, u, delta = c(S, B, S, P), c(B, P), c(B, S)
    for path in zk.supported_simd_paths():
        with zk.use_simd_path(path):
            outs = []
            for nt in (1, 2):
                kw = {}
                if spare:
                    kw["E_out"] = np.zeros((S + 1, B, S, P), p["dtype"])
                En, th = _step(E, u, jac, p, delta=delta, n_threads=nt, **kw)
                outs.append((kw["E_out"][:S] if spare else En, th,
                             trace_contract(E, delta, n_threads=nt)))
            for a, b in zip(*outs):
                assert np.array_equal(a, b), path

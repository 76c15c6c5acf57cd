"""The experiment script (smoke + maths)."""
import json

import numpy as np

from zenkai_np.examples import fractional as ex


def test_parameter_counts_are_matched():
    for d, target in ((2, 23), (4, 47), (6, 61), (10, 115)):
        h = ex.matched_width(d, target)
        assert abs(h * (d + 2) + 1 - target) <= (d + 2) // 2 + 1


def test_tasks_need_products():
    xtr, ytr, xte, yte = ex.make_task("missing", 0, 200, 100)
    v, m = xtr[:, :3], xtr[:, 3:]
    assert np.all(v[m == 0] == 0) and 0.6 < m.mean() < 0.9
    # the raw target is the product of the observed values (standardised here)
    raw = np.prod(v * m + 1 - m, axis=1)
    assert abs(np.corrcoef(raw, ytr[:, 0])[0, 1] - 1) < 1e-12
    xtr, ytr, _, _ = ex.make_task("product", 0, 100, 10)
    assert abs(np.corrcoef(xtr[:, 0] * xtr[:, 1], ytr[:, 0])[0, 1] - 1) < 1e-12


def test_run_smoke(tmp_path):
    res = ex.run(quick=True, seeds=1, tasks=("product", "missing"), epochs=2, verbose=False)
    assert set(res["tasks"]) == {"product", "missing"}
    for task in res["tasks"].values():
        assert {"fracexp", "fracexp_schroeder", "tanh", "relu"} <= set(task)
        assert np.isfinite(task["fracexp"]["mse_mean"])
        assert len(task["fracexp"]["n_in"]) == 1
    assert "fracexp_beats_tanh" in res["product_units"]
    md = ex.table(res)
    assert md.count("\n") == 3 and "| product |" in md
    out = tmp_path / "r.json"
    assert ex.main(["--quick", "--seeds", "1", "--epochs", "1", "--tasks", "product",
                    "--json", str(out), "--no-schroeder"]) == 0
    assert json.loads(out.read_text())["tasks"]["product"]["tanh"]["params"] > 0


def test_product_unit_summary_flags():
    # hand-made result: seed 0 a product unit, seed 1 log side only, seed 2 neither
    n_in = [[-1.05, -0.97], [-0.95, -1.02], [0.1, -1.0]]
    n_out = [[0.2, 1.08, -0.5], [0.5, 0.85, 0.0], [1.0, 0.0, 0.0]]
    res = {"tasks": {"product": {
        "fracexp": {"n_in": n_in, "n_out": n_out, "mse": [1e-5, 2e-4, 3e-4], "mse_mean": 1.7e-4},
        "tanh": {"mse": [2e-4, 2e-4, 2e-4], "mse_mean": 2e-4}}}}
    s = ex.product_unit_summary(res, tol=0.1)
    assert s["product_unit_per_seed"] == [True, False, False]
    assert s["seeds_with_product_unit"] == 1 and s["seeds_with_n_in_at_minus_1"] == 2
    np.testing.assert_allclose(s["n_out_closest_to_1_per_seed"], [1.08, 0.85, 1.0])
    assert s["fracexp_beats_tanh"] is True
    md = ex.product_unit_table(s)
    assert md.count("\n") == 4 and "| 0 | (-1.050, -0.970) | 1.080 | yes |" in md


def test_canonical_signs_preserve_the_function():
    model, layer = ex.fracexp_model(2, 4, 3, "abel", None, 0.03, 0.01, 0.0)
    readout = model.children()[-1].layer
    readout.params["W"][:, 0] = [0.5, -0.7, 0.2, -0.1]
    layer.params["b"][:] = [0.3, -0.2, 0.1, 0.4]
    x = np.random.default_rng(0).uniform(0.2, 4, (20, 2))
    before = model.predict(x)
    assert ex.canonical_signs(model) == 2
    assert np.all(readout.params["W"] >= 0)
    np.testing.assert_allclose(model.predict(x), before, rtol=1e-12, atol=1e-12)


def test_n_frozen_during_warmup():
    xtr, ytr, _, _ = ex.make_task("product", 0, 200, 10)
    model, layer = ex.fracexp_model(2, 4, 0, "abel", None, 0.03, 0.01, 0.0)
    w0 = layer.params["W"].copy()
    ex.fit_fracexp(model, xtr, ytr, epochs=3, batch_size=64, rng=0, n_lr=0.03, n_warmup=3,
                   sign_canon=True)
    assert np.all(layer.params["n_in"] == 0) and np.all(layer.params["n_out"] == 0)
    assert not np.array_equal(np.abs(layer.params["W"]), np.abs(w0))  # the weights learned
    assert np.all(model.children()[-1].layer.params["W"] >= 0)         # signs made canonical


def test_recipe_finds_the_product_unit():
    # the script's recipe on y = x1 x2 for one learning rate, from n = 0: a product unit is
    # both n_in within 0.1 of -1 (log) and a hidden unit's n_out within 0.1 of +1 (exp).
    # Training is chaotic: one ulp elsewhere (another SIMD path's exp, another CPU's
    # BLAS) moves single seeds in or out (6, 7 and 6 of these 10 on baseline, v3, v4 of
    # a Zen 5), so the claim tested is the rate: at least half the seeds, each with a
    # test error of a tenth of tanh's typical one.
    found = 0
    for seed in range(10):
        xtr, ytr, xte, yte = ex.make_task("product", 1000 + seed, 1000, 2000)
        model, layer = ex.fracexp_model(2, 4, seed, "abel", None, 0.03, 0.01, 0.0)
        with np.errstate(all="ignore"):
            ex.fit_fracexp(model, xtr[:800], ytr[:800], epochs=600, batch_size=64, rng=seed,
                           n_lr=0.03, n_warmup=100, sign_canon=True)
        if (np.all(np.abs(layer.params["n_in"] + 1) < 0.1)
                and np.min(np.abs(layer.params["n_out"] - 1)) < 0.1):
            found += 1
            assert np.mean((model.predict(xte) - yte) ** 2) < 1e-3, seed
    assert found >= 5

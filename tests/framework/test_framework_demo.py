"""The tour runs end to end (tiny epoch counts; accuracy targets are for the full run)."""
import json

import numpy as np
import pytest


def test_tour_writes_json_rows_for_every_rule(tmp_path, capsys):
    pytest.importorskip("sklearn")
    from zenkai_np.demo.__main__ import RULES, main

    out = tmp_path / "rows.json"
    rows = main(["--epochs", "1", "--json", str(out), "--plot", str(tmp_path / "c.png"),
                 "--no-reference"])
    text = capsys.readouterr().out
    assert "test accuracy" in text and "rows written" in text
    saved = json.loads(out.read_text())
    assert saved == rows
    assert [r["rule"] for r in saved] == list(RULES)
    for r in saved:
        assert set(r) == {"rule", "test_accuracy", "seconds_per_epoch", "dtype", "epochs"}
        assert 0 <= r["test_accuracy"] <= 1 and r["seconds_per_epoch"] > 0
        assert r["dtype"] == "float32" and r["epochs"] == 1
    # one epoch of backprop already beats chance by far
    assert saved[0]["test_accuracy"] > 0.5


def test_tour_rejects_unknown_rules():
    pytest.importorskip("sklearn")
    from zenkai_np.demo.__main__ import main

    with pytest.raises(SystemExit):
        main(["--rules", "bp,nope"])


def test_tour_data_split_is_stratified_and_standardised():
    pytest.importorskip("sklearn")
    from zenkai_np.demo.__main__ import load_data

    xtr, ytr, xte, yte = load_data(np.float64)
    assert xtr.shape == (1437, 64) and xte.shape == (360, 64)
    np.testing.assert_allclose(xtr.mean(0), 0, atol=1e-12)
    assert np.all(np.abs(np.bincount(yte) - 36) <= 1)

"""The framework benchmark compares like with like: its hand-written NumPy loops
(``zenkai_np.bench.bench_framework``) train the same network to the same weights
as the framework, for every rule and optimizer the bench times."""
import numpy as np
import pytest

import zenkai_np as zk
from zenkai_np.bench import bench_framework as bf


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-4), (np.float64, 1e-11)])
@pytest.mark.parametrize("rule, optimizer", bf.CASES)
def test_hand_written_loop_does_the_framework_s_work(rule, optimizer, dtype, rtol):
    x, y = bf._data(dtype)
    x, y = x[:128], y[:128]
    net = bf.make_framework_net(dtype, rule=rule, optimizer=optimizer)
    ref = bf.HandWritten(dtype, rule=rule, optimizer=optimizer,
                         feedback=bf.feedback_of(net, rule))
    zk.fit(net, x, y, loss=zk.CrossEntropyLoss(), epochs=2, batch_size=bf.BATCH, rng=1)
    rng = np.random.default_rng(1)
    for _ in range(2):
        ref.epoch(x, y, rng)
    lins = [m.layer for m in net.machines if isinstance(m.layer, zk.Linear)]
    assert len(lins) == 3
    for lin, W, b in zip(lins, ref.Ws, ref.bs):
        W0 = bf.HandWritten(dtype).Ws[lins.index(lin)]
        assert np.abs(W - W0).max() > 100 * rtol * np.abs(W).max()     # training moved it
        # relative Frobenius error: in float32 Adam's m / sqrt(v) amplifies the rounding
        # of a few near-zero gradients to a visible step (one element in 65536)
        for got, want in ((lin.params["W"], W), (lin.params["b"], b)):
            assert np.linalg.norm(got - want) <= rtol * np.linalg.norm(want)

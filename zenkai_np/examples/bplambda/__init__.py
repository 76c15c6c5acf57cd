"""BP(λ) as the paper ran it: the experiment blocks of docs/bplambda.md.

    python -m zenkai_np.examples.bplambda [--quick] [--only BLOCK[,BLOCK]] [--seeds N]
                                          [--json PATH] [--plot DIR] [--rows PATH]
                                          [--jobs N]

Blocks (one module each): ``fig2`` (frozen RNN, only the synthesiser learns),
``fig3`` (the RNN learns), ``table2`` (the toy learning table), ``seqdigits``
(sequential digits, LSTM), ``copyrepeat`` (copy-repeat curriculum, LSTM),
``patterns4`` (our 4-pattern task, a labelled extension, with its diagnosis).
Each block's settings and their sources are in the JSON's ``settings``.
``--rows`` appends every finished row as a JSON line (partial results of long runs).
"""
from __future__ import annotations

import argparse
import json
import time

from zenkai_np.bplambda import limit_blas_threads

from ._blocks import BLOCKS

__all__ = ["BLOCKS", "main"]


def _parse(argv):
    ap = argparse.ArgumentParser(prog="python -m zenkai_np.examples.bplambda",
                                 description="BP(λ) experiment blocks (docs/bplambda.md)")
    ap.add_argument("--quick", action="store_true", help="reduced sizes (all blocks < 2 min)")
    ap.add_argument("--only", help="comma-separated blocks: " + ",".join(BLOCKS))
    ap.add_argument("--seeds", type=int, help="seeds per setting (default: the block's)")
    ap.add_argument("--json", help="write the results (docs/bplambda_run.json schema)")
    ap.add_argument("--rows", help="append each finished row to this JSON-lines file")
    ap.add_argument("--plot", help="directory for the PNG figures (needs matplotlib)")
    ap.add_argument("--T", help="comma-separated sequence lengths (overrides the block's)")
    ap.add_argument("--lr-synth", help="comma-separated lr_synth values (fig2/fig3 override)")
    ap.add_argument("--jobs", type=int, help="worker processes for seqdigits and copyrepeat "
                    "(results do not depend on it; default 1)")
    args = ap.parse_args(argv)
    names = list(BLOCKS) if not args.only else args.only.split(",")
    bad = [n for n in names if n not in BLOCKS]
    if bad:
        ap.error(f"--only: unknown block(s) {bad}; expected some of {list(BLOCKS)}")
    if args.seeds is not None and args.seeds < 1:
        ap.error(f"--seeds: expected a positive int, got {args.seeds}")
    Ts = None
    if args.T:
        try:
            Ts = tuple(int(v) for v in args.T.split(","))
        except ValueError:
            ap.error(f"--T: expected comma-separated ints, got {args.T!r}")
        if min(Ts) < 2:
            ap.error(f"--T: expected sequence lengths >= 2, got {args.T!r}")
    over = {"Ts": Ts} if Ts else {}
    if args.jobs is not None:
        if args.jobs < 1:
            ap.error(f"--jobs: expected a positive int, got {args.jobs}")
        over["jobs"] = args.jobs
    if args.lr_synth:
        try:
            over["lr_synths"] = tuple(float(v) for v in args.lr_synth.split(","))
        except ValueError:
            ap.error(f"--lr-synth: expected comma-separated numbers, got {args.lr_synth!r}")
    return args, names, over


def main(argv=None, log=print):
    """Run the chosen blocks; returns the result dict (also written to ``--json``)."""
    args, names, over = _parse(argv)
    mode = "quick" if args.quick else "full"
    res = {"settings": {"mode": mode}}
    t_all = time.time()
    with limit_blas_threads(1):
        for name in names:
            block = BLOCKS[name]
            t0 = time.time()
            rows, settings = block(mode, args.seeds, args.rows, log, over)
            res[name] = rows
            settings["seconds"] = time.time() - t0
            res["settings"][name] = settings
            log(f"[{name}] {settings['seconds']:.1f} s")
    res["settings"]["seconds"] = time.time() - t_all
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=None, separators=(",", ":"))
    if args.plot:
        from ._plots import plot_all
        plot_all(res, args.plot, log)
    return res

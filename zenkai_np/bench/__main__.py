"""Benchmark every compiled kernel against the best NumPy formulation, same run.

    python -m zenkai_np.bench                    # all benchmarks
    python -m zenkai_np.bench --kernel fractional   # one (repeatable; --list shows names)
    python -m zenkai_np.bench --threads 1,2 --quick --json results.json

Each row: our median time, the reference's median time, the speed-up
(reference / ours), throughput, thread count and SIMD path. Absolute times on
a shared machine drift; the ratios, measured in the same run, are the figures
to quote.
"""
from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys

from ._harness import cpu_steal, format_table


def available() -> list:
    """Names of the benchmark modules (``bench_<name>.py``) in this package."""
    import zenkai_np.bench as pkg
    return sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules(pkg.__path__)
                  if m.name.startswith("bench_"))


def _threads(text: str) -> list:
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--threads: expected e.g. 1,2; got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"--threads: expected positive ints; got {text!r}")
    return values


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zenkai_np.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kernel", action="append", default=None,
                        help="benchmark to run (repeatable); default: all")
    parser.add_argument("--threads", type=_threads, default=[1, 2],
                        help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    parser.add_argument("--list", action="store_true", help="list benchmark names and exit")
    args = parser.parse_args(argv)

    names = available()
    if args.list:
        print("\n".join(names))
        return 0
    chosen = args.kernel or names
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        parser.error(f"unknown --kernel {', '.join(unknown)}; available: {', '.join(names)}")

    import zenkai_np
    cfg = zenkai_np.show_config()
    print(f"zenkai_np {cfg['zenkai_np']}  CPU {cfg['cpu']}  SIMD {cfg['simd_path']} (supported "
          f"{', '.join(cfg['simd_supported'])})  OpenMP max threads "
          f"{cfg['openmp_max_threads']}  {cfg['compiler']}")
    if isinstance(cfg["blas"], list):
        cores = [f"{d.get('version')} {d.get('architecture')}" for d in cfg["blas"]
                 if d.get("internal_api") == "openblas"]
        print(f"OpenBLAS builds (version, kernels): {'; '.join(cores) or 'none'}")
    if cfg["blas_hint"]:
        print(f"note: {cfg['blas_hint']}")
    results = []
    for name in chosen:
        module = importlib.import_module(f"zenkai_np.bench.bench_{name}")
        print(f"\n== {name} ==", flush=True)
        with cpu_steal() as steal:
            rows = module.run(quick=args.quick, threads=args.threads)
        print(format_table(rows), flush=True)
        if steal.fraction is not None:
            print(f"(hypervisor steal during {name}: {100 * steal.fraction:.1f}% of a vCPU's "
                  "time; above a few % the figures, thread scaling above all, are not "
                  "trustworthy)", flush=True)
            for r in rows:
                r.extra["cpu_steal"] = steal.fraction
        results.extend(rows)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"config": {k: v for k, v in cfg.items() if k != "blas"},
                       "results": [r.as_dict() for r in results]}, fh, indent=2, default=str)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

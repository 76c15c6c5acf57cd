"""``zenkai-np-example NAME [options]``: run one part's experiments.

NAME is ``fractional``, ``bplambda`` or ``moments``; the options are the
example's own (``zenkai-np-example NAME --help``). Same as
``python -m zenkai_np.examples.NAME`` run outside the source tree; the console
script also works from the repository root, where ``python -m`` would import
the unbuilt source package.
"""
from __future__ import annotations

import importlib
import sys

EXAMPLES = ("fractional", "bplambda", "moments")


def cli(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in EXAMPLES:
        print(__doc__.strip())
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nunknown example {argv[0]!r}; choose from {', '.join(EXAMPLES)}",
                  file=sys.stderr)
            return 2
        return 0
    module = importlib.import_module(f"zenkai_np.examples.{argv[0]}")
    result = module.main(argv[1:])
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(cli())

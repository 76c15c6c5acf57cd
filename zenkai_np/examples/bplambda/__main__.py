"""``python -m zenkai_np.examples.bplambda``: see the package docstring."""
from . import main

if __name__ == "__main__":
    main()

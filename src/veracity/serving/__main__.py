"""``python -m veracity.serving predictor|transformer [options]``."""

import sys

from veracity.serving.server import main

if __name__ == "__main__":
    sys.exit(main())

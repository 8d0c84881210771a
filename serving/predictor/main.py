"""Container entry point of the Veracity predictor (KServe): `python main.py [options]`."""

import sys

from veracity.serving.server import main

if __name__ == "__main__":
    sys.exit(main(["predictor", *sys.argv[1:]]))

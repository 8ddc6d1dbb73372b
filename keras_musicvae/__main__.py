"""`python -m keras_musicvae`: the `keras-musicvae` command line."""

import sys

from keras_musicvae.cli.main import main

if __name__ == "__main__":
    sys.exit(main())

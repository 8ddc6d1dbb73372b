"""Evaluates a trained MusicVAE as in the paper (Table 1, Fig. 3, Fig. 4).

    python tools/evaluate.py --model runs/mel/preset --data heldout_midi/ --output eval_out/ \\
        [--train-data train_midi/] [--num-examples 256] [--interpolation-pairs 64]

The same as `keras-musicvae evaluate` (see `keras-musicvae evaluate --help`
for every option): writes OUTPUT/evaluation.json, OUTPUT/interpolation.png
(Fig. 3 style) and OUTPUT/attribute_changes.png (Fig. 4 style).
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))


def main(argv=None):
    from keras_musicvae.cli.main import main as cli_main

    return cli_main(["evaluate", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())

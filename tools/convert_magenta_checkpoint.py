"""Converts a Magenta MusicVAE checkpoint into a keras_musicvae preset folder.

    python tools/convert_magenta_checkpoint.py \
        --checkpoint=/path/to/hierdec-trio_16bar.tar \
        --preset=hierdec-trio_16bar \
        --output=converted/hierdec_trio_16bar

--checkpoint may be a checkpoint prefix (model.ckpt-1234), a folder holding
one, or a .tar bundle as Magenta publishes them. Layer sizes that differ from
the preset are read off the checkpoint; --hparams overrides others (JSON
values, e.g. --hparams='free_bits=0,max_beta=0.5'). Nothing is written when
the checkpoint does not fit: the error lists the offending variables.
"""

import json
import sys

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint", None, "Checkpoint prefix, folder or .tar bundle.")
flags.DEFINE_string("preset", None, "Configuration the checkpoint was trained with.")
flags.DEFINE_string("output", None, "Preset folder to write.")
flags.DEFINE_string("hparams", "", "Comma-separated key=value overrides (JSON values).")
flags.DEFINE_bool("infer_sizes", True, "Read layer sizes from the checkpoint's shapes.")
flags.DEFINE_bool("overwrite", False, "Replace an existing output folder.")
flags.mark_flags_as_required(["checkpoint", "preset", "output"])


def parse_hparams(text):
    """`a=1,b=[2,3]` -> {"a": 1, "b": [2, 3]} (values are JSON, else strings)."""
    out = {}
    depth, start, parts = 0, 0, []
    for i, ch in enumerate(text):
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    for part in filter(None, (p.strip() for p in parts)):
        if "=" not in part:
            raise ValueError(f"Bad --hparams entry {part!r}: expected key=value.")
        key, value = part.split("=", 1)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def main(argv):
    del argv
    from keras_musicvae.convert import convert_magenta_checkpoint

    try:
        model = convert_magenta_checkpoint(
            FLAGS.checkpoint,
            FLAGS.preset,
            output=FLAGS.output,
            overrides=parse_hparams(FLAGS.hparams),
            infer_sizes=FLAGS.infer_sizes,
            overwrite=FLAGS.overwrite,
        )
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"Wrote {FLAGS.output} ({model.count_params():,} parameters).")
    return 0


if __name__ == "__main__":
    app.run(main)

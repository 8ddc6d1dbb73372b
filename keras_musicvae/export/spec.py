"""What an exported MusicVAE takes and gives: shapes, streams and output kind.

`ExportSpec.from_model(model)` reads everything the serving graphs need from a
`MusicVAE` once, so the signature builders never reach into the model's
layers. No TensorFlow here.
"""

import dataclasses
import logging

from keras_musicvae.layers.heads import CategoricalHead
from keras_musicvae.layers.heads import GrooveHead
from keras_musicvae.layers.heads import MultiStreamCategoricalHead
from keras_musicvae.layers.heads import NadeHead

logger = logging.getLogger(__name__)

#: Output kinds of the decode signatures (see `ExportSpec.output_kind`).
TOKENS = "tokens"
GROOVE = "groove"
MULTI_HOT = "multi_hot"

#: Noise kinds of the heads (see `keras_musicvae.layers.heads.output_head`).
GUMBEL = "gumbel"
LOGISTIC = "logistic"


@dataclasses.dataclass(frozen=True)
class ExportSpec:
    """Static facts about a model that the exported signatures depend on.

    Attributes:
        max_seq_len: int, steps of every exported sequence (inputs are
            padded to it, outputs have exactly that many steps).
        input_depth: int, encoder input depth (without controls).
        output_depth: int, depth of the decoded vectors.
        z_size: int, latent size.
        control_depth: int, 0 when the model takes no controls.
        lengths_shape: tuple, shape of one example's length: `()` for one
            length per sequence, `(num_segments,)` for per-segment lengths
            (multi-instrument performance presets).
        output_kind: `TOKENS` (categorical heads: one index per stream),
            `GROOVE` (hits, velocities, offsets) or `MULTI_HOT` (NADE drums).
        stream_depths: tuple of ints, depth of each categorical stream (one
            entry for melodies and drums, `(90, 90, 512)` for trios); the
            whole output depth for the other kinds.
        noise_kinds: tuple, `GUMBEL` or `LOGISTIC` per decoder head.
        noise_depths: tuple of ints, noise depth per decoder head.
    """

    max_seq_len: int
    input_depth: int
    output_depth: int
    z_size: int
    control_depth: int
    lengths_shape: tuple
    output_kind: str
    stream_depths: tuple
    noise_kinds: tuple
    noise_depths: tuple

    @property
    def num_streams(self):
        return len(self.stream_depths)

    @property
    def noise_depth(self):
        """Total depth of the concatenated noise of all heads."""
        return sum(self.noise_depths)

    @classmethod
    def from_model(cls, model):
        heads = list(model.decoder.heads)
        stream_depths, noise_kinds, kinds = [], [], set()
        for head in heads:
            if isinstance(head, MultiStreamCategoricalHead):
                stream_depths += head.output_depths
                noise_kinds.append(GUMBEL)
                kinds.add(TOKENS)
            elif isinstance(head, CategoricalHead):
                stream_depths.append(head.output_depth)
                noise_kinds.append(GUMBEL)
                kinds.add(TOKENS)
            elif isinstance(head, GrooveHead):
                stream_depths.append(head.output_depth)
                noise_kinds.append(LOGISTIC)
                kinds.add(GROOVE)
            elif isinstance(head, NadeHead):
                stream_depths.append(head.output_depth)
                noise_kinds.append(LOGISTIC)
                kinds.add(MULTI_HOT)
            else:
                raise NotImplementedError(
                    f"Export does not know the output head {type(head).__name__} "
                    "(it knows CategoricalHead, MultiStreamCategoricalHead, GrooveHead and "
                    "NadeHead): add its noise and outputs to keras_musicvae/export/spec.py."
                )
        if len(kinds) != 1:
            raise NotImplementedError(f"Export needs one kind of output head; got {sorted(kinds)}.")
        return cls(
            max_seq_len=int(model.max_seq_len),
            input_depth=int(model.input_depth),
            output_depth=int(model.output_depth),
            z_size=int(model.z_size),
            control_depth=int(model.control_depth),
            lengths_shape=_lengths_shape(model),
            output_kind=kinds.pop(),
            stream_depths=tuple(int(d) for d in stream_depths),
            noise_kinds=tuple(noise_kinds),
            noise_depths=tuple(int(h.noise_depth) for h in heads),
        )


def _lengths_shape(model):
    """`(num_segments,)` when the preset's converter gives per-segment lengths."""
    try:
        converter = model.converter
    except Exception as error:  # A broken converter config must not block export.
        logger.warning(
            "Could not build the model's data converter (%s); assuming one length per sequence.",
            error,
        )
        return ()
    if converter is None:
        return ()
    return tuple(int(n) for n in getattr(converter, "length_shape", ()))

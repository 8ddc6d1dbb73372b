"""MIDI / NoteSequence <-> tensor converters and tf.data pipelines.

Converters are pure NumPy / note-seq; the `pipeline` module builds
`tf.data.Dataset`s that feed `MusicVAE.fit`.
"""

from keras_musicvae.data.converter import ConversionReport
from keras_musicvae.data.converter import ConverterTensors
from keras_musicvae.data.converter import DataConverter
from keras_musicvae.data.converter import converter_from_config
from keras_musicvae.data.converter import register_converter
from keras_musicvae.data.converter import serialize_converter
from keras_musicvae.data import chords  # noqa: F401
from keras_musicvae.data import drums  # noqa: F401
from keras_musicvae.data import groove  # noqa: F401
from keras_musicvae.data import melody  # noqa: F401
from keras_musicvae.data import multiperf  # noqa: F401
from keras_musicvae.data import trio  # noqa: F401
from keras_musicvae.data.registry import converter_for_preset

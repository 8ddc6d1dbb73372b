"""keras_musicvae: MusicVAE for Keras 3 (TensorFlow, JAX, PyTorch).

    import keras_musicvae
    model = keras_musicvae.MusicVAE.from_preset("hierdec_mel_16bar")
"""

from keras_musicvae.version import __version__
from keras_musicvae import layers
from keras_musicvae.models import MagentaLearningRate
from keras_musicvae.models import MusicVAE
from keras_musicvae.models import MusicVAEAdam
from keras_musicvae.presets import list_presets


def convert_magenta_checkpoint(*args, **kwargs):
    """See `keras_musicvae.convert.convert_magenta_checkpoint`."""
    from keras_musicvae.convert import convert_magenta_checkpoint as convert

    return convert(*args, **kwargs)

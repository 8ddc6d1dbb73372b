"""Export of MusicVAE models for serving: TensorFlow SavedModel and TF Lite.

    model = keras_musicvae.MusicVAE.from_preset("cat_mel_2bar_small")
    keras_musicvae.export.export_saved_model(model, "models/cat_mel/1")
    keras_musicvae.export.export_tflite(model, "cat_mel.tflite")

Both need the TensorFlow backend. See docs/SERVING.md.

For the Magenta ecosystem (any backend; docs/MAGENTA.md):

    keras_musicvae.export.export_magentajs(model, "web/cat_mel")  # magenta.js folder
    keras_musicvae.export.export_magenta_checkpoint(model, "ckpt/")  # Magenta TF1 checkpoint
"""

from keras_musicvae.export.magenta_checkpoint import export_magenta_checkpoint
from keras_musicvae.export.magentajs import export_magentajs
from keras_musicvae.export.saved_model import export_saved_model
from keras_musicvae.export.tflite import export_tflite

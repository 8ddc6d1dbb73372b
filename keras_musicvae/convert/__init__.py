"""Conversion of Magenta MusicVAE checkpoints into keras_musicvae presets."""

from keras_musicvae.convert.magenta_checkpoint import CheckpointMismatchError
from keras_musicvae.convert.magenta_checkpoint import convert_magenta_checkpoint
from keras_musicvae.convert.magenta_checkpoint import infer_hparams
from keras_musicvae.convert.magenta_checkpoint import read_checkpoint

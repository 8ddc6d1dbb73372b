"""Reusable Keras layers of MusicVAE."""

from keras_musicvae.layers.bar_decoder import BarDecoder
from keras_musicvae.layers.bidirectional_encoder import BidirectionalEncoder
from keras_musicvae.layers.conductor import Conductor
from keras_musicvae.layers.decoders import FlatDecoder
from keras_musicvae.layers.decoders import HierarchicalDecoder
from keras_musicvae.layers.heads import CategoricalHead
from keras_musicvae.layers.heads import GrooveHead
from keras_musicvae.layers.heads import MultiStreamCategoricalHead
from keras_musicvae.layers.heads import NadeHead
from keras_musicvae.layers.heads import OutputHead
from keras_musicvae.layers.hierarchical_encoder import HierarchicalEncoder
from keras_musicvae.layers.initial_state import InitialStateDense
from keras_musicvae.layers.latent_head import LatentHead
from keras_musicvae.layers.lstm import LSTMStack

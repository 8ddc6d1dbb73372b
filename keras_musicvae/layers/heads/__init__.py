from keras_musicvae.layers.heads.categorical import CategoricalHead
from keras_musicvae.layers.heads.categorical import MultiStreamCategoricalHead
from keras_musicvae.layers.heads.groove import GrooveHead
from keras_musicvae.layers.heads.nade import NadeHead
from keras_musicvae.layers.heads.output_head import OutputHead

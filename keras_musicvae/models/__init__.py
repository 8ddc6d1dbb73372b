from keras_musicvae.models.music_vae import MusicVAE
from keras_musicvae.models.optimizer import MusicVAEAdam
from keras_musicvae.models.schedules import MagentaLearningRate

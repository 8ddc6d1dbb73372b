"""Evaluation metrics of the MusicVAE paper (Sec. 5.3-5.5, Appendix C).

Pure NumPy (matplotlib for the figures): they work on token arrays or one-hot
arrays and need no model; model-dependent steps take callbacks.

* `slerp`, `interpolation_alphas`, `interpolation_path`, `interpolation_grid`:
  latent interpolation (Sec. 2.1.2; four-corner grids as magenta.js).
* `per_step_accuracy`, `trio_stream_accuracies`: reconstruction accuracy
  (Sec. 5.3, Table 1).
* `normalized_hamming_distance`, `data_interpolation`,
  `KneserNeyLanguageModel`, `relative_cost`: the interpolation study
  (Sec. 5.4, Fig. 3).
* `melody_attributes` and the five attribute functions, `attribute_vectors`,
  `attribute_change_matrix`: attribute vector arithmetic (Sec. 5.5, Fig. 4,
  Appendix C).
* `plot_interpolation_study`, `plot_attribute_change_heatmap`,
  `write_figures_json`: figures.
* `EvaluationSettings`, `StudyOutcome`: what `run.evaluate_model` (which
  needs a model, so it is imported from `keras_musicvae.evaluation.run`)
  runs and what each study gives.
"""

from keras_musicvae.evaluation.attribute_vectors import attribute_change_matrix
from keras_musicvae.evaluation.attribute_vectors import attribute_vectors
from keras_musicvae.evaluation.data_interpolation import data_interpolation
from keras_musicvae.evaluation.figures_json import to_jsonable
from keras_musicvae.evaluation.figures_json import write_figures_json
from keras_musicvae.evaluation.hamming import normalized_hamming_distance
from keras_musicvae.evaluation.kneser_ney import KneserNeyLanguageModel
from keras_musicvae.evaluation.melody_attributes import ATTRIBUTE_NAMES
from keras_musicvae.evaluation.melody_attributes import average_interval
from keras_musicvae.evaluation.melody_attributes import c_diatonic_membership
from keras_musicvae.evaluation.melody_attributes import melody_attributes
from keras_musicvae.evaluation.melody_attributes import note_density
from keras_musicvae.evaluation.melody_attributes import syncopation_16th
from keras_musicvae.evaluation.melody_attributes import syncopation_8th
from keras_musicvae.evaluation.plots import plot_attribute_change_heatmap
from keras_musicvae.evaluation.plots import plot_interpolation_study
from keras_musicvae.evaluation.reconstruction_accuracy import TRIO_STREAM_SLICES
from keras_musicvae.evaluation.reconstruction_accuracy import one_hot_per_step_accuracy
from keras_musicvae.evaluation.reconstruction_accuracy import per_step_accuracy
from keras_musicvae.evaluation.reconstruction_accuracy import stream_accuracies
from keras_musicvae.evaluation.reconstruction_accuracy import tokens_from_one_hot
from keras_musicvae.evaluation.reconstruction_accuracy import trio_stream_accuracies
from keras_musicvae.evaluation.relative_cost import relative_cost
from keras_musicvae.evaluation.relative_cost import relative_lm_costs
from keras_musicvae.evaluation.slerp import interpolation_alphas
from keras_musicvae.evaluation.slerp import interpolation_grid
from keras_musicvae.evaluation.slerp import interpolation_path
from keras_musicvae.evaluation.settings import EvaluationSettings
from keras_musicvae.evaluation.settings import StudyOutcome
from keras_musicvae.evaluation.slerp import slerp

"""Adam with Magenta's gradient rule: global-norm clipping, and zero gradients
for a step whose global norm is absurdly large."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_musicvae")
class MusicVAEAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` with Magenta's clipping.

    Gradients are clipped to a global norm of `grad_clip`; when the global
    norm is not below `grad_norm_clip_to_zero` (it is at or above it, or it
    is inf or NaN) the step applies zero gradients
    (as Magenta's `music_vae_train`: Adam's moments still decay and the step
    counter advances). Epsilon defaults to 1e-8, TF1's `AdamOptimizer`.

    Args:
        grad_clip: float, global norm to clip to (None: no clipping).
        grad_norm_clip_to_zero: float, global norm at or above which the gradients
            are zeroed (None: never).
        track_global_norm: bool, keep the last step's global gradient norm
            (before clipping; Magenta's `global_norm` summary) in the
            optimizer variable `global_norm`, readable after each step. Off
            by default: the variable changes the optimizer's saved state.
        **kwargs: `keras.optimizers.Adam` arguments.
    """

    def __init__(
        self,
        grad_clip=1.0,
        grad_norm_clip_to_zero=10000.0,
        epsilon=1e-8,
        track_global_norm=False,
        **kwargs,
    ):
        super().__init__(epsilon=epsilon, **kwargs)
        self.grad_clip = None if grad_clip is None else float(grad_clip)
        self.grad_norm_clip_to_zero = (
            None if grad_norm_clip_to_zero is None else float(grad_norm_clip_to_zero)
        )
        self.track_global_norm = bool(track_global_norm)
        self.global_norm = None

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        if self.track_global_norm:
            self.global_norm = self.add_variable(
                shape=(), dtype="float32", initializer="zeros", name="global_norm"
            )

    def _clip_gradients(self, grads):
        grads = super()._clip_gradients(grads)
        if (
            self.grad_clip is None
            and self.grad_norm_clip_to_zero is None
            and not self.track_global_norm
        ):
            return grads
        present = [g for g in grads if g is not None]
        # The norm is accumulated in float32 whatever the gradients' dtype:
        # squares of bfloat16 / float16 values overflow or lose the small terms.
        global_norm = ops.sqrt(
            sum(ops.sum(ops.square(ops.cast(g, "float32"))) for g in present)
        )
        if self.global_norm is not None:
            self.global_norm.assign(global_norm)
        scale = ops.ones_like(global_norm)
        if self.grad_clip is not None:
            scale = ops.minimum(scale, self.grad_clip / ops.maximum(global_norm, self.grad_clip))
        if self.grad_norm_clip_to_zero is None:
            return [None if g is None else g * ops.cast(scale, g.dtype) for g in grads]
        # Magenta: `tf.cond(global_norm < grad_norm_clip_to_zero, clipped, zeros)`.
        # The comparison is False for NaN and inf norms and at the threshold
        # itself, so those steps apply zero gradients. A select (not a
        # multiplication by 0) keeps inf / NaN entries out: inf * 0 is NaN.
        keep = global_norm < self.grad_norm_clip_to_zero
        return [
            None
            if g is None
            else ops.where(keep, g * ops.cast(scale, g.dtype), ops.zeros_like(g))
            for g in grads
        ]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "grad_clip": self.grad_clip,
                "grad_norm_clip_to_zero": self.grad_norm_clip_to_zero,
                "track_global_norm": self.track_global_norm,
            }
        )
        return config

"""Backend-specific compilation of the model's inference functions.

BACKEND-SPECIFIC CODE (clearly marked, as the house rules ask): everything
else in the model is `keras.ops`. `compile_model_function(model, fn)` returns
a callable that runs `fn` (written with `keras.ops`, reading the model's
variables) compiled for the active backend:

- tensorflow: `tf.function` (graph mode; the step loops become `while`
  loops);
- jax: `jax.jit` of a pure function of the model's variable values (the
  values are arguments, not baked-in constants, so changing the weights does
  not recompile and the jitted program stays small);
- torch: eager (the loop runs step by step in Python).

Positional arguments must be tensors; keyword arguments are static (Python
values that select a program, e.g. a length).
"""

import keras


def compile_model_function(model, fn):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        # One trace per input signature: the loops need static lengths, which
        # `reduce_retracing` would relax to unknown.
        compiled = tf.function(fn)

        def run_tf(*args, **static):
            return compiled(*args, **static)

        return run_tf
    if backend == "jax":
        import jax

        cache = {}

        def run_jax(*args, **static):
            key = tuple(sorted(static.items()))
            if key not in cache:

                def pure(state, *tensors):
                    mapping = list(zip(model.variables, state))
                    with keras.StatelessScope(state_mapping=mapping):
                        return fn(*tensors, **static)

                cache[key] = jax.jit(pure)
            state = [v.value for v in model.variables]
            return cache[key](state, *args)

        return run_jax
    return fn

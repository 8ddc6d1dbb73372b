"""Test toolkit shared by the layer and model tests: tensors, serialization
round trips and dtype-policy checks.

Import with `from testing import ...` (pytest puts tests/ on sys.path).

`run_serialization_test` revives a layer through Keras' own serialization and
checks its config (every constructor argument kept) and, given inputs, that
the revived layer with the same weights gives exactly the same outputs.

`run_precision_test` builds a layer (or the model) under each dtype policy
and checks what a policy promises: variables in the policy's variable dtype,
every sublayer under the same policy, outputs in the compute dtype (or in
float32 where the code keeps them so by design), the policy surviving a
`get_config` / `from_config` round trip, and outputs close to the float32
layer's with the same weights.
"""

import keras
import numpy as np
from keras import ops

#: The policies every layer is tested under: float32, the two training
#: policies (float32 variables, half-precision compute) and the inference
#: policy (bfloat16 variables and compute).
POLICIES = ("float32", "mixed_float16", "mixed_bfloat16", "bfloat16")

#: Loose tolerances of outputs against float32 with the same weights, as a
#: fraction of the largest float32 output (tiny layers, a few steps).
RELATIVE_TOLERANCE = {
    "float32": 1e-6,
    "mixed_float16": 1e-2,
    "float16": 1e-2,
    "mixed_bfloat16": 5e-2,
    "bfloat16": 6e-2,
}


#: The tiny model of the model tests: 5 classes, 6 steps, z 3.
TINY_DEPTH, TINY_STEPS, TINY_Z = 5, 6, 3


#: Its constructor arguments: a 4-unit encoder and a 2 x 4-unit decoder.
TINY_CONFIG = dict(
    input_depth=TINY_DEPTH,
    output_depth=TINY_DEPTH,
    max_seq_len=TINY_STEPS,
    z_size=TINY_Z,
    enc_rnn_size=[4],
    dec_rnn_size=[4, 4],
)


def tiny_music_vae(**overrides):
    """The tiny flat `MusicVAE` (`TINY_CONFIG`) with `overrides`."""
    from keras_musicvae.models.music_vae import MusicVAE

    return MusicVAE(**{**TINY_CONFIG, **overrides})


def tensor(x, dtype="float32"):
    """`x` (array-like) as a tensor of the backend, in `dtype`."""
    return ops.convert_to_tensor(np.asarray(x, dtype))


def run_serialization_test(layer, input_data=None, call_kwargs=None):
    """Checks that `layer` survives `serialize_keras_object` / `deserialize_keras_object`.

    - The revived object is of the same class, with an equal `get_config()`
      (so every constructor argument is in the config: a dropped one would
      come back as its default).
    - With `input_data` (see `run_precision_test`): the revived layer, built
      by a call and given the original's weights, returns exactly the
      original's outputs (inference mode; `call_kwargs` are passed to both).

    Returns:
        The revived layer.
    """
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(revived) is type(layer), f"{type(layer).__name__} came back as {type(revived).__name__}"
    assert revived.get_config() == layer.get_config()
    if input_data is not None:
        call_kwargs = call_kwargs or {}
        expected = _call(layer, input_data, call_kwargs)
        _call(revived, input_data, call_kwargs)  # builds it
        revived.set_weights(layer.get_weights())
        got = _call(revived, input_data, call_kwargs)
        expected_flat = list(_flatten_with_paths(expected))
        got_flat = list(_flatten_with_paths(got))
        assert [path for path, _ in got_flat] == [path for path, _ in expected_flat]
        for (path, g), (_, e) in zip(got_flat, expected_flat):
            np.testing.assert_array_equal(
                ops.convert_to_numpy(g), ops.convert_to_numpy(e), err_msg=f"output {path} after the round trip"
            )
    return revived


def is_float(dtype):
    return keras.backend.is_float_dtype(keras.backend.standardize_dtype(dtype))


def dtype_name(x):
    return keras.backend.standardize_dtype(x.dtype)


def to_float64(x):
    """A tensor (any float dtype, bfloat16 included) as a float64 NumPy array."""
    return np.asarray(ops.convert_to_numpy(ops.cast(x, "float32")), dtype=np.float64)


def sublayers(layer):
    """`layer` and every layer inside it (Keras' own traversal)."""
    return list(layer._flatten_layers(include_self=True, recursive=True))


def assert_layer_policy(layer, policy):
    """Every sublayer under `policy`; every float variable in its variable dtype."""
    policy = keras.dtype_policies.get(policy)
    for sub in sublayers(layer):
        assert sub.dtype_policy.name == policy.name, (
            f"{sub.name} ({type(sub).__name__}) is under {sub.dtype_policy.name}, "
            f"its parent {layer.name} under {policy.name}"
        )
    for weight in layer.weights:
        if is_float(weight.dtype):
            assert dtype_name(weight) == policy.variable_dtype, (
                f"{weight.path} is {dtype_name(weight)} under {policy.name}"
            )


def _call(layer, input_data, call_kwargs):
    if isinstance(layer, keras.Model) or not isinstance(input_data, (dict, tuple)):
        return layer(input_data, **call_kwargs)
    if isinstance(input_data, dict):
        return layer(**input_data, **call_kwargs)
    return layer(*input_data, **call_kwargs)


def _expected_dtype(path, policy, float32_outputs):
    if float32_outputs is True or (float32_outputs and path and path[0] in float32_outputs):
        return "float32"
    return policy.compute_dtype


def _flatten_with_paths(structure, path=()):
    if isinstance(structure, dict):
        for key in sorted(structure):
            yield from _flatten_with_paths(structure[key], path + (key,))
    elif isinstance(structure, (list, tuple)):
        for i, item in enumerate(structure):
            yield from _flatten_with_paths(item, path + (i,))
    elif structure is not None:
        yield path, structure


def run_precision_test(
    layer_cls,
    init_kwargs,
    input_data,
    call_kwargs=None,
    float32_outputs=False,
    policies=POLICIES,
    check_values=True,
):
    """Checks `layer_cls` under each dtype policy.

    For each policy: builds `layer_cls(**init_kwargs, dtype=policy)`, calls
    it on `input_data` (a dict: keyword arguments, a tuple: positional
    arguments, anything else: the one argument; a `keras.Model` always takes
    `input_data` as its one argument), and checks

    - every sublayer is under the policy and every float variable has the
      policy's variable dtype;
    - every float output has the policy's compute dtype, except the outputs
      that are float32 by design (`float32_outputs`: True for all of them,
      or the top-level keys / positions of those that are);
    - `from_config(get_config())` gives a layer under the same policy, all
      its sublayers included;
    - with `check_values`, the outputs equal the float32 layer's (given the
      same random N(0, 0.5^2) weights, cast) to `RELATIVE_TOLERANCE[policy]` times the largest
      float32 output.

    Args:
        layer_cls: the class.
        init_kwargs: constructor arguments, or a function of the policy name
            returning them (for layers that take other layers, which must be
            built under the same policy).
        input_data: see above (NumPy or tensors; cast by the layer's call).
        call_kwargs: more keyword arguments of the call.
        float32_outputs: see above.
        policies: the policy names to test.
        check_values: compare the outputs with float32 ones.

    Returns:
        `{policy: outputs}` (the raw outputs of each policy's call).
    """
    call_kwargs = call_kwargs or {}

    def make(policy):
        kwargs = init_kwargs(policy) if callable(init_kwargs) else dict(init_kwargs)
        return layer_cls(**kwargs, dtype=policy)

    reference = None
    if check_values:
        reference_layer = make("float32")
        _call(reference_layer, input_data, call_kwargs)  # builds it
        # N(0, 0.5^2) weights: sharper than the small initial values.
        rng = np.random.default_rng(0)
        reference_weights = [
            rng.normal(0.0, 0.5, w.shape).astype(w.dtype) if is_float(w.dtype) else w
            for w in reference_layer.get_weights()
        ]
        reference_layer.set_weights(reference_weights)
        reference = _call(reference_layer, input_data, call_kwargs)
    results = {}
    for name in policies:
        policy = keras.dtype_policies.get(name)
        layer = make(name)
        outputs = _call(layer, input_data, call_kwargs)
        if check_values:
            # Same weights as the float32 layer (cast to the variable dtype),
            # then call again.
            layer.set_weights(reference_weights)
            outputs = _call(layer, input_data, call_kwargs)
        assert_layer_policy(layer, policy)
        flat = list(_flatten_with_paths(outputs))
        assert flat, f"{layer_cls.__name__} returned no tensors"
        for path, tensor in flat:
            if not is_float(tensor.dtype):
                continue
            expected = _expected_dtype(path, policy, float32_outputs)
            assert dtype_name(tensor) == expected, (
                f"{layer_cls.__name__} output {path} is {dtype_name(tensor)} under "
                f"{name}; expected {expected}"
            )
        config = layer.get_config()
        assert keras.dtype_policies.get(config["dtype"]).name == name
        restored = layer_cls.from_config(config)
        if not restored.built:
            _call(restored, input_data, call_kwargs)
        assert_layer_policy(restored, policy)
        if check_values:
            expected_flat = [t for _, t in _flatten_with_paths(reference)]
            scale = max(
                [1.0] + [float(np.max(np.abs(to_float64(t)))) for t in expected_flat if is_float(t.dtype)]
            )
            atol = RELATIVE_TOLERANCE[name] * scale
            for (path, got), want in zip(flat, expected_flat):
                if is_float(got.dtype):
                    np.testing.assert_allclose(
                        to_float64(got),
                        to_float64(want),
                        atol=atol,
                        err_msg=f"{layer_cls.__name__} output {path} under {name}",
                    )
        results[name] = outputs
    return results


def assert_same_values_and_gradients(results, atol=1e-5):
    """`results` = `[(generic_output, generic_gradients), (fused_output,
    fused_gradients)]` (NumPy arrays): a fused kernel's output and weight
    gradients equal the generic loop's within `atol`."""
    (generic, generic_grads), (fused, fused_grads) = results
    np.testing.assert_allclose(fused, generic, atol=atol)
    assert len(fused_grads) == len(generic_grads)
    for a, b in zip(fused_grads, generic_grads):
        np.testing.assert_allclose(a, b, atol=atol)

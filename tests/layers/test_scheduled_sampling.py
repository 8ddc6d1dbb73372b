"""`scheduled_sampling.py`: the scheduled-sampling loop with a hand-written
backward pass gives the generic loop's samples, logits and gradients (the
generic loop under automatic differentiation is the reference), and is taken
only where that holds."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_musicvae.layers import scheduled_sampling
from keras_musicvae.layers.bar_decoder import BarDecoder
from keras_musicvae.layers.decoding import run_decoding_loop
from keras_musicvae.layers.heads import CategoricalHead
from keras_musicvae.layers.heads import GrooveHead
from keras_musicvae.layers.heads import MultiStreamCategoricalHead
from keras_musicvae.layers.heads import NadeHead

from testing import tensor

from .numpy_reference import randomize_weights
from .numpy_reference import to_numpy

BATCH, STEPS = 3, 7


def _decoder(head, units=(5, 4), control_depth=0, seed=0, dtype=None):
    decoder = BarDecoder(list(units), head, 3, control_depth, dtype=dtype)
    decoder.build()
    return randomize_weights(decoder, seed)


def _one_hot(rng, depth):
    return np.eye(depth, dtype="float32")[rng.integers(0, depth, (BATCH, STEPS))]


def _problem(decoders, seed=0, control_depth=0):
    """Inputs of a scheduled-sampling call: conditionings, teacher inputs
    (targets shifted right), the use-sample mask, Gumbel noise and controls."""
    rng = np.random.default_rng(seed)
    teachers = []
    for decoder in decoders:
        targets = _one_hot(rng, decoder.token_depth)
        teachers.append(np.concatenate([np.zeros_like(targets[:, :1]), targets[:, :-1]], axis=1))
    return {
        "conditionings": rng.normal(size=(BATCH, 1, 3)).astype("float32"),
        "teachers": teachers,
        "use_sample": rng.random((BATCH, STEPS)) < 0.5,
        "noises": [
            rng.gumbel(size=(BATCH, STEPS, d.head.noise_depth)).astype("float32") for d in decoders
        ],
        "controls": None
        if not control_depth
        else rng.normal(size=(BATCH, STEPS, control_depth)).astype("float32"),
        "loss_weights": [
            rng.normal(size=(BATCH, STEPS, d.head.logits_depth)).astype("float32") for d in decoders
        ],
    }


def _loss(decoders, problem, fused, conditionings, teachers):
    samples, logits = run_decoding_loop(
        decoders,
        conditionings,
        STEPS,
        1.0,
        [tensor(n) for n in problem["noises"]],
        controls=None if problem["controls"] is None else tensor(problem["controls"]),
        teacher_inputs=teachers,
        use_sample=tensor(problem["use_sample"], "bool"),
        training=True,
        fused_gradient=fused,
    )
    loss = sum(
        ops.sum(ops.cast(x, "float32") * tensor(w)) for x, w in zip(logits, problem["loss_weights"])
    )
    return loss, (samples, logits)


def _values_and_gradients(decoders, problem, fused):
    """Samples, logits, and the gradients of a weighted sum of the logits
    with respect to every weight, the conditionings and the teacher inputs.

    BACKEND-SPECIFIC (test helper): Keras has no backend-neutral gradient API.
    """
    variables = [v for d in decoders for v in d.trainable_variables]
    inputs = [problem["conditionings"]] + problem["teachers"]
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(x) for x in inputs]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            loss, outputs = _loss(decoders, problem, fused, tensors[0], tensors[1:])
        gradients = tape.gradient(loss, variables + tensors)
    elif backend == "jax":
        import jax

        def loss_fn(values, tensors):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return _loss(decoders, problem, fused, tensors[0], tensors[1:])

        values = [v.value for v in variables]
        (loss, outputs), (g_values, g_inputs) = jax.value_and_grad(
            loss_fn, argnums=(0, 1), has_aux=True
        )([v for v in values], [jax.numpy.asarray(x) for x in inputs])
        gradients = list(g_values) + list(g_inputs)
    else:
        import torch

        tensors = [torch.tensor(x, requires_grad=True) for x in inputs]
        loss, outputs = _loss(decoders, problem, fused, tensors[0], tensors[1:])
        gradients = torch.autograd.grad(loss, [v.value for v in variables] + tensors)
    samples, logits = outputs
    as_float = lambda x: to_numpy(ops.cast(x, "float32"))  # noqa: E731
    return (
        [as_float(s) for s in samples],
        [as_float(x) for x in logits],
        [as_float(g) for g in gradients],
        [v.path for v in variables] + ["conditionings"] + [f"teacher_{i}" for i in range(len(decoders))],
    )


def _assert_fused_equals_generic(decoders, problem, atol=1e-5, relative=False):
    fused = _values_and_gradients(decoders, problem, True)
    generic = _values_and_gradients(decoders, problem, False)
    for a, b in zip(fused[0], generic[0]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(fused[1], generic[1]):
        np.testing.assert_allclose(a, b, atol=atol)
    for a, b, name in zip(fused[2], generic[2], fused[3]):
        scale = max(1.0, float(np.max(np.abs(b)))) if relative else 1.0
        np.testing.assert_allclose(a, b, atol=atol * scale, err_msg=name)
    return fused


@pytest.fixture
def taken(monkeypatch):
    """Counts the calls of the hand-written loop."""
    calls = []
    run = scheduled_sampling.run

    def counted(*args, **kwargs):
        calls.append(1)
        return run(*args, **kwargs)

    monkeypatch.setattr(scheduled_sampling, "run", counted)
    return calls


@pytest.mark.parametrize("control_depth", [0, 2])
def test_one_stream_gives_the_generic_values_and_gradients(control_depth, taken):
    decoder = _decoder(CategoricalHead(6, 4), control_depth=control_depth)
    problem = _problem([decoder], seed=1, control_depth=control_depth)
    _, _, gradients, _ = _assert_fused_equals_generic([decoder], problem)
    assert taken == [1]  # the fused call only
    # The model's own samples were fed somewhere (else this tests teacher forcing).
    fed = problem["use_sample"][:, 1:]
    assert fed.any()
    teacher_gradient = gradients[-1]
    # No gradient reaches a teacher input the model's sample replaced.
    np.testing.assert_array_equal(teacher_gradient[:, 1:][fed], 0.0)
    assert np.abs(teacher_gradient[:, 0]).sum() > 0


def test_several_streams_and_a_multi_stream_head(taken):
    decoders = [
        _decoder(CategoricalHead(6, 4), seed=1),
        _decoder(MultiStreamCategoricalHead([3, 5], 3), units=(4, 3, 3), seed=2),
    ]
    _assert_fused_equals_generic(decoders, _problem(decoders, seed=2))
    assert taken == [1]


def test_one_layer_decoder(taken):
    decoder = _decoder(CategoricalHead(6, 4), units=(4,), seed=3)
    _assert_fused_equals_generic([decoder], _problem([decoder], seed=3))
    assert taken == [1]


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "bfloat16"])
def test_half_precision_gives_the_generic_gradients(policy):
    """Half precision: the same loop in the compute dtype, float32 cell states;
    the gradients equal autodiff's to bfloat16 rounding."""
    decoder = _decoder(CategoricalHead(6, 4, dtype=policy), seed=4, dtype=policy)
    problem = _problem([decoder], seed=4)
    _, _, gradients, _ = _assert_fused_equals_generic([decoder], problem, atol=0.02, relative=True)
    assert all(np.isfinite(g).all() for g in gradients)


@pytest.mark.parametrize(
    "make",
    [
        lambda: [_decoder(GrooveHead(2, 4))],
        lambda: [_decoder(NadeHead(6, 3, 4))],
        lambda: [BarDecoder([5, 4], CategoricalHead(6, 4), 3, dropout_rate=0.5)],
    ],
    ids=["groove", "nade", "dropout"],
)
def test_other_decoders_keep_the_generic_loop(make, taken):
    decoders = make()
    for decoder in decoders:
        decoder.build()
    problem = _problem(decoders)
    _loss(decoders, problem, True, tensor(problem["conditionings"]), [tensor(t) for t in problem["teachers"]])
    assert taken == []


def test_segments_keep_the_generic_loop(taken):
    decoder = _decoder(CategoricalHead(6, 4))
    rng = np.random.default_rng(5)
    steps = 6
    run_decoding_loop(
        [decoder],
        tensor(rng.normal(size=(2, 2, 3))),
        steps // 2,
        1.0,
        [tensor(np.zeros((2, steps, 6)))],
        teacher_inputs=[tensor(np.zeros((2, steps, 6)))],
        use_sample=tensor(np.ones((2, steps)), "bool"),
        training=True,
    )
    assert taken == []

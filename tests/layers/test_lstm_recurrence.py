"""`lstm_recurrence`'s hand-written backward pass: equal to automatic
differentiation of the same loop, and to NumPy finite differences; through a
layer's variables, to the gradient a training step applies."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_musicvae.layers.lstm import LSTMStack
from keras_musicvae.layers.lstm_recurrence import lstm_recurrence

from .numpy_reference import lstm_layer
from .numpy_reference import lstm_stack
from .numpy_reference import stack_weights
from .numpy_reference import to_numpy


def _gradients(fn, args):
    """Gradients of the scalar `fn(*args)` with respect to every arg.

    BACKEND-SPECIFIC (test helper): Keras has no backend-neutral gradient API.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(a) for a in args]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            loss = fn(*tensors)
        return [to_numpy(g) for g in tape.gradient(loss, tensors)]
    if backend == "jax":
        import jax

        grads = jax.jit(jax.grad(fn, argnums=tuple(range(len(args)))))(
            *[jax.numpy.asarray(a) for a in args]
        )
        return [to_numpy(g) for g in grads]
    import torch

    tensors = [torch.tensor(a, requires_grad=True) for a in args]
    loss = fn(*tensors)
    return [to_numpy(g) for g in torch.autograd.grad(loss, tensors)]


SIZES = [3, 2]
BATCH, STEPS = 3, 5


def _problem(seed, lengths=None):
    rng = np.random.default_rng(seed)
    args = []
    for h in SIZES:
        args.append(rng.normal(size=(BATCH, STEPS, 4 * h)).astype("float32"))
    for h in SIZES:
        args.append(rng.normal(scale=0.7, size=(h, 4 * h)).astype("float32"))
    for h in SIZES:
        args.append(rng.normal(size=(BATCH, h)).astype("float32"))
        args.append(rng.normal(size=(BATCH, h)).astype("float32"))
    # Random weights of the outputs and final states in the scalar loss.
    weights = [
        (rng.normal(size=(BATCH, STEPS, h)), rng.normal(size=(BATCH, h)), rng.normal(size=(BATCH, h)))
        for h in SIZES
    ]
    masks = None
    if lengths is not None:
        masks = [np.arange(STEPS)[None] < np.asarray(lengths)[:, None]] * len(SIZES)
    return args, weights, masks


def _loss_fn(weights, masks, fused, biases=None):
    """The scalar loss of `lstm_recurrence` on `_problem`'s args; with
    `biases` ("apart" or "added"), n biases follow those args, given to the
    recurrence apart or added to the projections."""
    n = len(SIZES)

    def loss(*args):
        projections = list(args[:n])
        kernels = list(args[n : 2 * n])
        states = [(args[2 * n + 2 * i], args[2 * n + 2 * i + 1]) for i in range(n)]
        bias = list(args[4 * n :])
        if biases == "added":
            projections = [p + b for p, b in zip(projections, bias)]
        outputs, finals = lstm_recurrence(
            projections,
            kernels,
            states,
            masks=None if masks is None else [ops.convert_to_tensor(m) for m in masks],
            fused_gradient=fused,
            biases=bias if biases == "apart" else None,
        )
        total = 0.0
        for out, (h, c), (w_out, w_h, w_c) in zip(outputs, finals, weights):
            total = total + ops.sum(out * ops.cast(w_out, out.dtype))
            total = total + ops.sum(h * ops.cast(w_h, h.dtype)) + ops.sum(c * ops.cast(w_c, c.dtype))
        return total

    return loss


def _numpy_loss(args, weights, lengths):
    n = len(SIZES)
    total = 0.0
    for i in range(n):
        projection, kernel = args[i], args[n + i]
        h0, c0 = args[2 * n + 2 * i], args[2 * n + 2 * i + 1]
        units = kernel.shape[0]
        # lstm_layer takes inputs and a kernel: feed the projections through
        # an identity kernel, zero bias.
        out, (h, c) = lstm_layer(
            projection, np.eye(4 * units), kernel, np.zeros(4 * units), h0, c0, lengths
        )
        w_out, w_h, w_c = weights[i]
        total += np.sum(out * w_out) + np.sum(h * w_h) + np.sum(c * w_c)
    return total


# Lengths 5 (full), 2 and 0 (a row that never starts): one problem covers
# full, finished and empty sequences.
LENGTHS = [5, 2, 0]


@pytest.fixture(params=[[3, 2], [3, 3]], ids=["different_sizes", "equal_sizes"])
def sizes(request, monkeypatch):
    """Two recurrences in one loop, of different sizes (the loop's carry
    holds each one's own shapes) and of equal sizes (a bidirectional
    encoder's two directions)."""
    monkeypatch.setitem(globals(), "SIZES", request.param)
    return request.param


@pytest.mark.parametrize(
    "lengths", [LENGTHS, None, [STEPS] * BATCH], ids=["masked", "unmasked", "masks_all_full"]
)
def test_hand_written_gradient_equals_autodiff(sizes, lengths):
    """(Masks that are all True take the unmasked loops, `_fused`.)"""
    args, weights, masks = _problem(0, lengths)
    fused = _gradients(_loss_fn(weights, masks, True), args)
    autodiff = _gradients(_loss_fn(weights, masks, False), args)
    for g_fused, g_auto in zip(fused, autodiff):
        np.testing.assert_allclose(g_fused, g_auto, atol=1e-5, rtol=1e-4)


def test_hand_written_gradient_equals_finite_differences(sizes):
    lengths = LENGTHS
    args, weights, masks = _problem(1, lengths)
    grads = _gradients(_loss_fn(weights, masks, True), args)
    args64 = [a.astype(np.float64) for a in args]
    rng = np.random.default_rng(2)
    eps = 1e-6
    for index, (arg, grad) in enumerate(zip(args64, grads)):
        for flat in rng.choice(arg.size, size=min(6, arg.size), replace=False):
            position = np.unravel_index(flat, arg.shape)
            plus = [a.copy() for a in args64]
            minus = [a.copy() for a in args64]
            plus[index][position] += eps
            minus[index][position] -= eps
            expected = (_numpy_loss(plus, weights, lengths) - _numpy_loss(minus, weights, lengths)) / (2 * eps)
            assert grad[position] == pytest.approx(expected, abs=2e-4, rel=2e-3), (index, position)


def test_masked_rows_pass_the_final_state_gradient_to_the_initial_state(sizes):
    """A row of length 0 keeps its initial state: d final / d initial = I."""
    args, weights, masks = _problem(3, LENGTHS)
    grads = _gradients(_loss_fn(weights, masks, True), args)
    n = len(SIZES)
    for i in range(n):
        _, w_h, w_c = weights[i]
        np.testing.assert_allclose(grads[2 * n + 2 * i][2], w_h[2], atol=1e-6)
        np.testing.assert_allclose(grads[2 * n + 2 * i + 1][2], w_c[2], atol=1e-6)
        # ...and no gradient reaches its projections or the kernel from it.
        np.testing.assert_array_equal(grads[i][2], 0.0)


def test_forward_is_the_same_with_and_without_the_fused_gradient(sizes):
    args, _, masks = _problem(4, [5, 3, 1])
    n = len(SIZES)
    tensors = [ops.convert_to_tensor(a) for a in args]
    states = [(tensors[2 * n + 2 * i], tensors[2 * n + 2 * i + 1]) for i in range(n)]
    masks = [ops.convert_to_tensor(m) for m in masks]
    a = lstm_recurrence(tensors[:n], tensors[n : 2 * n], states, masks, fused_gradient=True)
    b = lstm_recurrence(tensors[:n], tensors[n : 2 * n], states, masks, fused_gradient=False)
    for x, y in zip(keras.tree.flatten(a), keras.tree.flatten(b)):
        np.testing.assert_array_equal(to_numpy(x), to_numpy(y))


class WrappedStack(keras.Model):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.lstm = LSTMStack(units)

    def call(self, inputs):
        return self.lstm(inputs)[0]


def test_training_step_applies_the_numpy_gradient_to_the_layer_variables():
    """Through the layer's variables (what `fit` differentiates): one SGD
    step with learning rate 1 moves each weight by minus its gradient."""
    rng = np.random.default_rng(5)
    inputs = rng.normal(size=(2, 4, 2)).astype("float32")
    output_weights = rng.normal(size=(2, 4, 2)).astype("float32")
    model = WrappedStack([3, 2])
    model(inputs)
    for w in model.trainable_weights:
        w.assign(rng.normal(scale=0.5, size=tuple(w.shape)).astype("float32"))
    before = [to_numpy(w) for w in model.trainable_weights]
    weights = stack_weights(model.lstm)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=1.0),
        loss=lambda y_true, y_pred: ops.sum(y_true * y_pred, axis=(1, 2)),
    )
    model.train_on_batch(inputs, output_weights)
    applied = [b - to_numpy(w) for b, w in zip(before, model.trainable_weights)]

    def numpy_loss(flat_weights):
        layers = [tuple(flat_weights[3 * k : 3 * k + 3]) for k in range(2)]
        out, _ = lstm_stack(inputs, layers)
        return np.mean(np.sum(output_weights * out, axis=(1, 2)))  # mean over the batch

    flat = [w for layer in weights for w in layer]
    eps = 1e-6
    for index, (w, grad) in enumerate(zip(flat, applied)):
        for position in np.ndindex(w.shape):
            plus = [x.copy() for x in flat]
            minus = [x.copy() for x in flat]
            plus[index][position] += eps
            minus[index][position] -= eps
            expected = (numpy_loss(plus) - numpy_loss(minus)) / (2 * eps)
            assert grad[position] == pytest.approx(expected, abs=2e-5, rel=1e-3), (index, position)


# --- half precision ---------------------------------------------------------


def _half_gradients(fn, args, dtype):
    """Gradients of `fn` at `args` cast to `dtype` (any backend; bfloat16
    has no NumPy dtype that every backend takes, so the cast is a Keras op).

    BACKEND-SPECIFIC (test helper), like `_gradients`.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.cast(tf.constant(a), dtype) for a in args]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            loss = fn(*tensors)
        return tensors, tape.gradient(loss, tensors)
    if backend == "jax":
        import jax

        tensors = [jax.numpy.asarray(a).astype(dtype) for a in args]
        grads = jax.jit(jax.grad(fn, argnums=tuple(range(len(args)))))(*tensors)
        return tensors, grads
    import torch

    tensors = [torch.tensor(a).to(getattr(torch, dtype)).requires_grad_(True) for a in args]
    loss = fn(*tensors)
    return tensors, torch.autograd.grad(loss, tensors)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_recurrence_and_its_hand_written_gradient(dtype, sizes):
    """Half-precision inputs: outputs and gradients in the inputs' dtype; the
    hand-written gradient equals autodiff of the same (float32-cell) loop,
    and both are close to the float32 gradient."""
    args, weights, masks = _problem(6, LENGTHS)
    n = len(SIZES)
    tensors = [ops.cast(ops.convert_to_tensor(a), dtype) for a in args]
    states = [(tensors[2 * n + 2 * i], tensors[2 * n + 2 * i + 1]) for i in range(n)]
    outputs, finals = lstm_recurrence(tensors[:n], tensors[n : 2 * n], states)
    for x in keras.tree.flatten((outputs, finals)):
        assert keras.backend.standardize_dtype(x.dtype) == dtype

    inputs, fused = _half_gradients(_loss_fn(weights, masks, True), args, dtype)
    _, autodiff = _half_gradients(_loss_fn(weights, masks, False), args, dtype)
    reference = _gradients(_loss_fn(weights, masks, True), args)
    for x, g_fused, g_auto, g_32 in zip(inputs, fused, autodiff, reference):
        assert keras.backend.standardize_dtype(g_fused.dtype) == dtype
        assert keras.backend.standardize_dtype(x.dtype) == dtype
        got = to_numpy(ops.cast(g_fused, "float32"))
        scale = max(1.0, float(np.max(np.abs(g_32))))
        np.testing.assert_allclose(got, to_numpy(ops.cast(g_auto, "float32")), atol=0.03 * scale)
        np.testing.assert_allclose(got, g_32, atol=0.06 * scale)


@pytest.mark.parametrize("lengths", [LENGTHS, None], ids=["masked", "unmasked"])
def test_biases_given_apart_equal_biases_added_to_the_projections(lengths):
    """`biases=`: the recurrence adds them, and its backward pass sums their
    gradients (`step_sums`) to what autodiff of `projection + bias` gives."""
    args, weights, masks = _problem(7, lengths)
    rng = np.random.default_rng(7)
    biases = [rng.normal(size=(4 * h,)).astype("float32") for h in SIZES]
    apart = _gradients(_loss_fn(weights, masks, True, biases="apart"), args + biases)
    added = _gradients(_loss_fn(weights, masks, False, biases="added"), args + biases)
    for g_apart, g_added in zip(apart, added):
        np.testing.assert_allclose(g_apart, g_added, atol=1e-5, rtol=1e-4)

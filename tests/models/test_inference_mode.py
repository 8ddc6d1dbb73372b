"""Inference records no autograd graph on PyTorch (`inference_mode.no_autograd`).

The public inference methods return NumPy, so the check is made where the
tensors are: the tensor-level functions they call are spied on, and the
grad mode and `requires_grad` of their results are recorded.
"""

import keras
import numpy as np
import pytest

from keras_musicvae.models.inference_mode import no_autograd
from keras_musicvae.models.music_vae import MusicVAE

torch_only = pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="autograd bookkeeping exists on the torch backend only"
)

TINY = dict(
    input_depth=6,
    output_depth=6,
    max_seq_len=8,
    z_size=3,
    enc_rnn_size=[4],
    dec_rnn_size=[4],
)


def _spy(model, name, seen):
    """Replaces `model.<name>` by a wrapper recording what torch saw."""
    original = getattr(model, name)

    def spy(*args, **kwargs):
        import torch

        result = original(*args, **kwargs)
        flat = keras.tree.flatten(result)
        seen.append(
            {
                "name": name,
                "grad_enabled": torch.is_grad_enabled(),
                "requires_grad": any(getattr(t, "requires_grad", False) for t in flat),
            }
        )
        return result

    setattr(model, name, spy)


def test_decorator_keeps_name_doc_and_result():
    @no_autograd
    def twice(x):
        """Doubles x."""
        return 2 * x

    assert twice.__name__ == "twice" and twice.__doc__ == "Doubles x."
    assert twice(3) == 6


@torch_only
def test_decorator_turns_grad_off_inside_only():
    import torch

    @no_autograd
    def grad_mode():
        return torch.is_grad_enabled()

    assert torch.is_grad_enabled()
    assert grad_mode() is False
    assert torch.is_grad_enabled()  # restored after the call


@torch_only
@pytest.mark.parametrize("method", ["encode", "decode", "sample", "reconstruct", "interpolate"])
def test_inference_records_no_graph(method):
    import torch

    model = MusicVAE(**TINY)
    seen = []
    _spy(model, "encode_tensors", seen)
    _spy(model, "decode_tensors", seen)
    rng = np.random.default_rng(0)
    inputs = np.eye(6, dtype="float32")[rng.integers(0, 6, (2, 8))]
    z = rng.normal(size=(2, 3)).astype("float32")
    calls = {
        "encode": lambda: model.encode(inputs),
        "decode": lambda: model.decode(z, temperature=0.5, seed=1),
        "sample": lambda: model.sample(2, temperature=0.5, seed=1),
        "reconstruct": lambda: model.reconstruct(inputs),
        "interpolate": lambda: model.interpolate(inputs[0], inputs[1], num_steps=3),
    }
    out = calls[method]()
    assert np.all(np.isfinite(keras.tree.flatten(out)[0]))
    assert seen, "the spied tensor functions were not called"
    assert all(not s["grad_enabled"] for s in seen), seen
    assert all(not s["requires_grad"] for s in seen), seen
    # Without the decorator the same call records a graph (the test is not vacuous).
    with torch.enable_grad():
        mu, _ = model.encode_tensors(
            torch.as_tensor(inputs), torch.full((2,), 8, dtype=torch.int32)
        )
    assert mu.requires_grad
    assert torch.is_grad_enabled()


@torch_only
def test_model_trains_after_inference():
    """Variables built during a no-grad call still receive gradients."""
    model = MusicVAE(**TINY)
    model.sample(2, temperature=1.0, seed=0)  # first call: builds under no_grad
    assert all(v.value.requires_grad for v in model.trainable_variables)

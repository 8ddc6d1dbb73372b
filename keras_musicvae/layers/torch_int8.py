"""int8 matrix products for the PyTorch step loops (backend-specific module).

Sampling 8 sequences multiplies a batch of 8 by every decoder weight matrix at
every step, so its speed is the speed at which the CPU reads those weights
(`benchmarks/README.md`, "Targets"). Stored as int8 they are a quarter of
float32 and half of bfloat16. PyTorch's CPU build ships FBGEMM's dynamically
quantized product (`torch.ops.quantized.linear_dynamic`): int8 weights with
one scale per output column, and each call quantizes its activations to 8
bits on the fly and accumulates in int32. On this project's development CPU
(AVX512_VNNI) the nine `[8, 2048] @ [2048, 4096]` products of a 16-bar trio
step took 2.0 ms in int8 against 3.4 ms in bfloat16 and 6.6 ms in float32,
both prepacked for oneDNN (`python benchmarks/step_products.py`).

This is inference-only rounding the user asks for
(`MusicVAE.decode_quantization = "int8"`): the model's variables keep their
dtype; the decoders' kernels are quantized inside `int8_products()`, where
`torch_linear.pack` finds the mode (and keeps the int8 copy until the
weights change). The weight scales are symmetric per column
(`max |w| / 127`); the activations' range is reduced to 7 bits as PyTorch's
own dynamic quantization does on x86 (no overflow of the CPU's 16-bit
intermediate sums on CPUs without VNNI). What it costs in tokens is measured
in `benchmarks/README.md` ("int8 step products").
"""

import contextlib
import contextvars
import warnings

import keras

MODES = (None, "int8")

_MODE = contextvars.ContextVar("keras_musicvae_step_quantization", default=None)


def check_mode(mode):
    """Returns `mode` if it is a known step quantization, else raises ValueError."""
    if mode not in MODES:
        raise ValueError(f"Unknown step quantization {mode!r}; use one of {MODES}.")
    return mode


def unavailable_reason():
    """None where int8 step products can run here, else why not (a sentence)."""
    if keras.backend.backend() != "torch":
        return (
            f"int8 step products run on the PyTorch backend (KERAS_BACKEND=torch); this process "
            f"uses {keras.backend.backend()!r}. On TensorFlow, export an int8 TF Lite model "
            "instead (export_tflite(..., quantization='int8'))."
        )
    import torch

    engines = torch.backends.quantized.supported_engines
    if not any(engine in engines for engine in ("x86", "fbgemm")):
        return f"this PyTorch build has no x86 quantized engine (it has {engines})."
    return None


def current_mode():
    """The step quantization of the enclosing `int8_products()` block, or None."""
    return _MODE.get()


@contextlib.contextmanager
def int8_products(enabled=True):
    """Within the block, the step loops' prepared products are int8 (if `enabled`)."""
    token = _MODE.set("int8" if enabled else None)
    try:
        yield
    finally:
        _MODE.reset(token)


class Int8Projection:
    """`x @ kernel + bias` with the kernel quantized to int8 once.

    Args:
        kernel: `[K, N]` torch tensor on the CPU (any float dtype).
        bias: `[N]` tensor or None.

    Calls return the kernel's own dtype (the compute dtype).
    """

    def __init__(self, kernel, bias=None):
        import torch

        self.output_dtype = kernel.dtype
        self.output_dim = int(kernel.shape[1])
        # FBGEMM takes the weights as [N, K] (torch.nn.Linear's layout).
        weight = kernel.detach().t().float().contiguous()
        scales = (weight.abs().amax(dim=1) / 127.0).clamp_min(1e-12).double()
        zero_points = torch.zeros(weight.shape[0], dtype=torch.long)
        bias = None if bias is None else bias.detach().float().contiguous()
        with warnings.catch_warnings():
            # PyTorch marks its quantized tensor types for removal in favour
            # of torchao; the operators below are what its own dynamic
            # quantization (torch.ao) still runs.
            warnings.simplefilter("ignore")
            quantized = torch.quantize_per_channel(weight, scales, zero_points, 0, torch.qint8)
            self.packed = torch.ops.quantized.linear_prepack(quantized, bias)

    def __call__(self, inputs):
        """`[..., K]` -> `[..., N]`."""
        import torch

        if inputs.dtype != torch.float32:
            inputs = inputs.float()
        outputs = torch.ops.quantized.linear_dynamic(inputs.contiguous(), self.packed, True)
        return outputs if outputs.dtype == self.output_dtype else outputs.to(self.output_dtype)

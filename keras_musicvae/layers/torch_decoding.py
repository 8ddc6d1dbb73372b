"""Free-running sampling as a plain PyTorch loop (backend-specific module).

`decoding.run_decoding_loop` writes the step loop once, in `keras.ops`, for
every backend and every use (sampling, scheduled sampling, dropout, any
head). On eager PyTorch each `keras.ops` call also converts and checks its
arguments, and `ops.scan` flattens and rebuilds its inputs at every step: at
sampling's batch sizes that bookkeeping costs more than the arithmetic of
small models (`benchmarks/README.md`, "PyTorch step loops").

`run` is the same loop for the case that matters for speed, sampling, with
those costs taken out: a Python loop over the steps (segment by segment,
each from its own initial states), the products and the cell update on the
prepared weights (`torch_linear.py`, `torch_cell.py`, through the decoders'
own `step`), and the categorical heads' sampling written with torch's
operations: Gumbel-max over `logits + temperature * noise` in float32, the
arg-max by `topk` (the generic head's choice among ties), its one-hot by
comparison. `applies` says when it may run: on PyTorch, with autograd off
and every product prepared (the inference methods on a CPU), free running
(no teacher inputs, no dropout), and every stream's head a plain
`CategoricalHead`; anything else takes the generic loop. The tests compare
the two on the same model (`tests/layers/test_torch_decoding.py`).
"""

import torch

from keras_musicvae.layers import torch_cell
from keras_musicvae.layers.heads.categorical import CategoricalHead


def applies(per_stream, teacher_inputs):
    """Whether `run` may replace the generic loop for these streams.

    Args:
        per_stream: `run_decoding_loop`'s per-stream dicts (`decoder`,
            `params`, `dropout`, ...).
        teacher_inputs: the loop's teacher inputs (None when free running).
    """
    if teacher_inputs is not None or torch.is_grad_enabled():
        return False
    for stream in per_stream:
        params = stream["params"]
        if stream["dropout"] is not None or type(stream["decoder"].head) is not CategoricalHead:
            return False
        if params["lstm"].cell is not torch_cell.lstm_gates:
            return False  # the products are not prepared (see LSTMStack.step_params)
        if not (params["token"].is_packed and params["head"].is_packed):
            return False
    return True


def run(per_stream, first_tokens, segment_length, temperature, noises, controls=None):
    """Samples every stream step by step.

    Args:
        per_stream: as for `applies`, each with `segment_states` (per layer
            `(h, c)`, each `[S, B, H]`) and `conditioning_projection`
            (`[S, B, 4H_0]`), time-major.
        first_tokens: per stream, `[B, D_i]` input of step 0 (compute dtype).
        segment_length: int, steps per segment.
        temperature: scalar tensor (0: arg-max).
        noises: per stream, `[T, B, D_i]` Gumbel noise, time-major.
        controls: None, or per stream `[T, B, 4H_0]` projected controls.

    Returns:
        `(samples, logits)`: per stream, `[T, B, D_i]` each, time-major, in
        the compute dtype.
    """
    temperature = torch.as_tensor(temperature, dtype=torch.float32)
    outputs = []
    for i, stream in enumerate(per_stream):
        decoder, params = stream["decoder"], stream["params"]
        token = first_tokens[i]
        classes = torch.arange(decoder.head.output_depth, device=token.device)
        samples, logits_per_step = [], []
        for segment in range(stream["conditioning_projection"].shape[0]):
            states = [(h[segment], c[segment]) for h, c in stream["segment_states"]]
            conditioning = stream["conditioning_projection"][segment]
            for step in range(segment * segment_length, (segment + 1) * segment_length):
                gates = params["token"](token) + conditioning
                if controls is not None:
                    gates = gates + controls[i][step]
                logits, states = decoder.step(gates, states, params)
                scores = logits.float() + temperature * noises[i][step]
                index = torch.topk(scores, 1).indices
                token = (index == classes).to(first_tokens[i].dtype)
                samples.append(token)
                logits_per_step.append(logits)
        outputs.append((torch.stack(samples), torch.stack(logits_per_step)))
    return [s for s, _ in outputs], [l for _, l in outputs]

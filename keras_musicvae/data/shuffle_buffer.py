"""`ShuffleBuffer`: examples waiting to be batched (streaming strategy)."""

import numpy as np

from keras_musicvae.data import blocks as blocks_lib


class ShuffleBuffer:
    """Examples waiting to be batched (streaming strategy)."""

    def __init__(self, size, rng, spec, steps):
        self.size = size
        self.rng = rng
        self.spec = spec
        self.steps = steps
        self.examples = []  # (inputs, outputs, controls, length), unpacked, unpadded

    def add(self, block):
        """Adds a block's examples; returns how many were too long."""
        spec = self.spec
        inputs = blocks_lib.unpack_bits(block.inputs, spec.input_depth, spec.input_dtype)
        outputs = blocks_lib.unpack_bits(block.outputs, spec.output_depth, spec.output_dtype)
        controls = blocks_lib.unpack_bits(block.controls, spec.control_depth, spec.control_dtype)
        dropped = 0
        for i in range(len(block)):
            t = int(block.steps[i])
            if self.steps is not None and t > self.steps:
                dropped += 1
                continue
            self.examples.append((inputs[i, :t], outputs[i, :t], controls[i, :t], block.lengths[i]))
        return dropped

    def _take(self, n):
        examples = self.examples
        if self.size:
            taken = []
            for i in sorted(self.rng.choice(len(examples), n, replace=False).tolist(), reverse=True):
                examples[i], examples[-1] = examples[-1], examples[i]
                taken.append(examples.pop())
        else:
            taken, self.examples = examples[:n], examples[n:]
        return self._batch(taken)

    def full_batches(self, batch_size):
        while len(self.examples) >= max(batch_size, self.size):
            yield self._take(batch_size)

    def drain(self, batch_size, drop_remainder):
        while len(self.examples) >= batch_size:
            yield self._take(batch_size)
        if self.examples and not drop_remainder:
            yield self._take(len(self.examples))

    def _batch(self, examples):
        spec = self.spec
        steps = self.steps or max(len(e[0]) for e in examples)
        n = len(examples)

        def stack(k, depth):
            out = np.zeros((n, steps, depth), np.float32)
            for i, e in enumerate(examples):
                out[i, : len(e[k])] = e[k]
            return out

        batch = {
            "inputs": stack(0, spec.input_depth),
            "targets": stack(1, spec.output_depth),
            "lengths": np.stack([np.asarray(e[3], np.int32) for e in examples]).reshape(
                (n, *spec.length_shape)
            ),
        }
        if spec.control_depth:
            batch["controls"] = stack(2, spec.control_depth)
        return batch

"""Blocks: the examples of one file, stacked into arrays and bit-packed.

A `Block` holds `[n, T, depth]` arrays of one (file, augmentation) pair.
One-hot and multi-hot arrays are stored bit-packed (`np.packbits`, a 90-way
one-hot step costs 12 bytes), which is what lets the example cache hold
every transposition of a corpus. `ArraySpec` knows the depths and dtypes
and turns a block into the float32 / int32 batch dict the model takes.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass
class Block:
    """The examples of one (item, variant), stacked and maybe bit-packed.

    inputs/outputs/controls: `[n, T, depth]`, or uint8 `[n, T, ceil(depth/8)]`
    when packed (bool arrays); lengths: `[n] + length_shape` int32; steps:
    `[n]` the unpadded number of rows of each example.
    """

    inputs: np.ndarray
    outputs: np.ndarray
    controls: np.ndarray
    lengths: np.ndarray
    steps: np.ndarray

    def __len__(self):
        return len(self.lengths)

    @property
    def nbytes(self):
        arrays = {id(a): a for a in (self.inputs, self.outputs, self.controls, self.lengths)}
        return sum(a.nbytes for a in arrays.values())

    def take(self, rows):
        return Block(
            self.inputs[rows], self.outputs[rows], self.controls[rows], self.lengths[rows], self.steps[rows]
        )

    def fit_to(self, steps):
        """Drops examples longer than `steps`, pads the rest to `steps` rows.

        Returns:
            `(block, number dropped)`.
        """
        dropped = 0
        block = self
        keep = self.steps <= steps
        if not keep.all():
            dropped = int((~keep).sum())
            block = self.take(keep)
        width = block.inputs.shape[1]
        if width > steps:
            cut = slice(0, steps)
            block = Block(block.inputs[:, cut], block.outputs[:, cut], block.controls[:, cut],
                           block.lengths, block.steps)
        elif width < steps:
            pad = [(0, 0), (0, steps - width), (0, 0)]
            same = block.outputs is block.inputs
            inputs = np.pad(block.inputs, pad)
            block = Block(inputs, inputs if same else np.pad(block.outputs, pad),
                           np.pad(block.controls, pad), block.lengths, block.steps)
        return block, dropped


def stack_arrays(arrays, depth, dtype, pack):
    """List of `[T_i, depth]` arrays -> `[n, max T_i, depth]` (maybe packed)."""
    n = len(arrays)
    steps = max((len(a) for a in arrays), default=0)
    out = np.zeros((n, steps, depth), dtype=dtype)
    for i, a in enumerate(arrays):
        if len(a):
            out[i, : len(a)] = a
    if pack and dtype == np.bool_ and depth:
        return np.packbits(out, axis=-1)
    return out


def to_block(tensors, spec, pack):
    """`ConverterTensors` -> `Block` (`spec`: a converter or a `ArraySpec`)."""
    n = len(tensors)
    steps = np.array([len(a) for a in tensors.inputs], dtype=np.int32)
    lengths = np.zeros((n, *spec.length_shape), dtype=np.int32)
    for i, length in enumerate(tensors.lengths):
        lengths[i] = length
    control_depth = spec.control_depth or 0
    inputs = stack_arrays(tensors.inputs, spec.input_depth, np.dtype(spec.input_dtype), pack)
    outputs = stack_arrays(tensors.outputs, spec.output_depth, np.dtype(spec.output_dtype), pack)
    if inputs.shape == outputs.shape and inputs.dtype == outputs.dtype and np.array_equal(inputs, outputs):
        outputs = inputs  # melody and trio targets are their inputs: keep one copy
    controls = stack_arrays(
        tensors.controls if control_depth else [np.zeros((len(a), 0)) for a in tensors.inputs],
        control_depth,
        np.dtype(spec.control_dtype),
        pack,
    )
    return Block(inputs, outputs, controls, lengths, steps)


def unpack_bits(array, depth, dtype):
    if array.dtype == np.uint8 and np.dtype(dtype) == np.bool_ and depth:
        return np.unpackbits(array, axis=-1, count=depth)
    return array


class ArraySpec:
    """Depths, dtypes and length shape of the arrays."""

    def __init__(self, input_depth, output_depth, control_depth, input_dtype, output_dtype,
                 control_dtype, length_shape):
        self.input_depth = int(input_depth)
        self.output_depth = int(output_depth)
        self.control_depth = int(control_depth or 0)
        self.input_dtype = np.dtype(input_dtype)
        self.output_dtype = np.dtype(output_dtype)
        self.control_dtype = np.dtype(control_dtype)
        self.length_shape = tuple(length_shape)

    @classmethod
    def of(cls, converter):
        return cls(converter.input_depth, converter.output_depth, converter.control_depth,
                   converter.input_dtype, converter.output_dtype, converter.control_dtype,
                   converter.length_shape)

    @classmethod
    def of_arrays(cls, tensors):
        controls = tensors.controls[0] if tensors.controls else np.zeros((0, 0))
        return cls(tensors.inputs[0].shape[-1], tensors.outputs[0].shape[-1],
                   controls.shape[-1] if controls.ndim == 2 else 0,
                   tensors.inputs[0].dtype, tensors.outputs[0].dtype, controls.dtype,
                   np.shape(tensors.lengths[0]))

    def batch(self, block):
        """A `Block`'s examples as a float32 / int32 batch dict."""
        batch = {
            "inputs": unpack_bits(block.inputs, self.input_depth, self.input_dtype).astype(np.float32),
            "targets": unpack_bits(block.outputs, self.output_depth, self.output_dtype).astype(np.float32),
            "lengths": block.lengths.astype(np.int32),
        }
        if self.control_depth:
            batch["controls"] = unpack_bits(block.controls, self.control_depth, self.control_dtype).astype(
                np.float32
            )
        return batch


def concat_blocks(blocks):
    if len(blocks) == 1:
        return blocks[0]
    same = all(b.outputs is b.inputs for b in blocks)
    inputs = np.concatenate([b.inputs for b in blocks])
    return Block(
        inputs,
        inputs if same else np.concatenate([b.outputs for b in blocks]),
        np.concatenate([b.controls for b in blocks]),
        np.concatenate([b.lengths for b in blocks]),
        np.concatenate([b.steps for b in blocks]),
    )

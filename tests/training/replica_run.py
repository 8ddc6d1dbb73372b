"""Trains a tiny model for a few steps on a fixed global batch, on 1 or 2 replicas (run as a script).

    python replica_run.py OUT.npz REPLICAS [TIMED_STEPS [GLOBAL_BATCH [PRECISION]]]

Run in a fresh process: the 2 devices (TensorFlow logical CPUs, or JAX host
devices through `XLA_FLAGS`, set by the caller) must exist before the
backend starts. The posterior noise comes with the batch (`posterior_noise`,
one row per example) and scheduled sampling is off, so a step depends on the
batch and the weights alone, not on how the batch is split. Writes the weights after the steps,
the logged losses and, with TIMED_STEPS, the seconds per step of that many
more steps (compiled).
"""

import sys
import time

REPLICAS = int(sys.argv[2])
STEPS = 3
GLOBAL_BATCH = int(sys.argv[4]) if len(sys.argv) > 4 else 8
PRECISION = sys.argv[5] if len(sys.argv) > 5 else None  # a dtype policy (default the preset's, float32)

import keras  # noqa: E402

if keras.backend.backend() == "tensorflow" and REPLICAS > 1:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * REPLICAS)

import numpy as np  # noqa: E402

from keras_musicvae.models.music_vae import MusicVAE  # noqa: E402
from keras_musicvae.training import distribute  # noqa: E402

TINY = {"enc_rnn_size": [16], "dec_rnn_size": [16], "z_size": 4, "sampling_schedule": "constant", "sampling_rate": 0.0}


def batch(model):
    rng = np.random.default_rng(1)
    steps, depth = model.max_seq_len, model.output_depth
    tokens = rng.integers(0, depth, size=(GLOBAL_BATCH, steps))
    one_hot = np.eye(depth, dtype="float32")[tokens]
    lengths = rng.integers(steps // 2, steps + 1, size=(GLOBAL_BATCH,)).astype("int32")
    noise = rng.normal(size=(GLOBAL_BATCH, model.z_size)).astype("float32")
    return {"inputs": one_hot, "targets": one_hot, "lengths": lengths, "posterior_noise": noise}


def main():
    import tensorflow as tf

    name = {"tensorflow": "mirrored", "jax": "data_parallel"}[keras.backend.backend()] if REPLICAS > 1 else None
    distribution = distribute.resolve_distribution(name)
    assert distribution.num_replicas == REPLICAS, distribution
    with distribution.scope():
        model = MusicVAE.from_preset("cat_mel_2bar_small", load_weights=False, dtype=PRECISION, **TINY)
        rng = np.random.default_rng(0)
        model.set_weights([
            w if w.dtype.kind in "iu" else rng.uniform(-0.3, 0.3, w.shape).astype(w.dtype)
            for w in model.get_weights()
        ])  # fmt: skip
        model.compile()
        distribute.prepare_model(model, distribution)
        data = batch(model)

        def build(num_pipelines, index, pipeline_batch):
            return tf.data.Dataset.from_tensor_slices(data).batch(pipeline_batch).repeat()

        dataset = distribution.training_dataset(build, GLOBAL_BATCH)
        history = model.fit(dataset, steps_per_epoch=1, epochs=STEPS, verbose=0)
        weights = model.get_weights()
        iterations = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
        global_step = int(keras.ops.convert_to_numpy(model.global_step))
        seconds = float("nan")
        if len(sys.argv) > 3:
            timed = int(sys.argv[3])
            start = time.perf_counter()
            model.fit(dataset, steps_per_epoch=timed, epochs=1, verbose=0)
            seconds = (time.perf_counter() - start) / timed
    np.savez(
        sys.argv[1],
        losses=np.asarray(history.history["loss"]),
        iterations=iterations,
        global_step=global_step,
        seconds_per_step=seconds,
        **{f"w{i}": w for i, w in enumerate(weights)},
    )


if __name__ == "__main__":
    main()

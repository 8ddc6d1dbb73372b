"""keras_musicvae.training.loop: the held-out limit (`eval_batches`)."""

import warnings

import numpy as np
import tensorflow as tf

from keras_musicvae.training.loop import limit_batches


def test_a_limit_beyond_the_held_out_set_evaluates_it_whole():
    dataset = tf.data.Dataset.range(3)
    limited, steps = limit_batches(dataset, 40)
    assert steps is None
    assert [int(x) for x in limited] == [0, 1, 2]


def test_a_limit_below_the_held_out_set_cuts_it():
    limited, steps = limit_batches(tf.data.Dataset.range(10), 2)
    assert steps is None
    assert [int(x) for x in limited] == [0, 1]


def test_no_limit_and_other_inputs_keep_their_steps():
    dataset = tf.data.Dataset.range(3)
    assert limit_batches(dataset, None) == (dataset, None)
    arrays = {"inputs": np.zeros((4, 2))}
    assert limit_batches(arrays, 5) == (arrays, 5)
    assert limit_batches(None, 5) == (None, 5)


def test_evaluating_a_short_held_out_set_does_not_warn():
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(loss="mse")
    dataset = tf.data.Dataset.from_tensor_slices((np.ones((6, 2), "float32"), np.ones((6, 1), "float32"))).batch(2)
    limited, steps = limit_batches(dataset, 40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2):  # as at two checkpoints
            model.evaluate(limited, steps=steps, verbose=0)

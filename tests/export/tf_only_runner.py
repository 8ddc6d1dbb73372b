"""Calls the signatures of a SavedModel in a process that imports TensorFlow only.

Usage: python tf_only_runner.py JOB.json

JOB.json: `{"saved_model": DIR, "inputs": NPZ, "outputs": NPZ, "calls": [{"id":
ID, "signature": NAME, "inputs": {INPUT_NAME: NPZ_KEY}}]}`. Every output `OUT`
of call `ID` is written to the outputs NPZ as `ID/OUT`; a call that fails is
recorded as `ID/error` (its message). `modules.json` next to the outputs lists
the Keras / keras_musicvae / JAX / torch modules that were imported (none
should be: they are blocked before TensorFlow is imported).
"""

import json
import sys

_BLOCKED = ("keras", "keras_musicvae", "tf_keras", "jax", "torch")
for _name in _BLOCKED:
    sys.modules[_name] = None  # `import keras` now fails: TF must not need it.

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main(job_path):
    with open(job_path) as f:
        job = json.load(f)
    model = tf.saved_model.load(job["saved_model"])
    arrays = dict(np.load(job["inputs"]))
    results = {}
    for call in job["calls"]:
        function = model.signatures[call["signature"]]
        _, specs = function.structured_input_signature
        kwargs = {
            name: tf.constant(arrays[key], dtype=specs[name].dtype)
            for name, key in call["inputs"].items()
        }
        try:
            outputs = function(**kwargs)
        except tf.errors.OpError as error:
            results[f"{call['id']}/error"] = np.array(error.message)
            continue
        for name, value in outputs.items():
            results[f"{call['id']}/{name}"] = value.numpy()
    np.savez(job["outputs"], **results)
    loaded = sorted(
        name
        for name, module in sys.modules.items()
        if module is not None and name.split(".")[0] in _BLOCKED
    )
    with open(job["outputs"] + ".modules.json", "w") as f:
        json.dump(loaded, f)


if __name__ == "__main__":
    main(sys.argv[1])

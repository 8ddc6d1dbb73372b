"""Loads checkpoints written by `export_magenta_checkpoint` with Magenta 2.1.4 itself.

Runs under the Magenta reference virtualenv (../shared/reference/setup_magenta_env.sh),
not ours: `python magenta_reference_runner.py JOB.json`.

JOB.json: `{"arrays": NPZ, "outputs": NPZ, "models": [{"id": ID, "folder": DIR,
"temperature": T}]}`. For each model, `DIR/magenta_config.json` names the
configuration and the hparams string; Magenta's `TrainedModel` loads the
checkpoint of DIR, encodes `ID/inputs` (lengths `ID/lengths`, controls
`ID/controls` if present) and decodes `ID/z` at temperature T (controls
`ID/c_input` if present). Writes `ID/mu`, `ID/sigma`, `ID/samples`, or
`ID/error` (the message).
"""

import copy
import json
import os
import sys
import traceback
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
from magenta.models.music_vae import configs  # noqa: E402
from magenta.models.music_vae.trained_model import TrainedModel  # noqa: E402


def run_model(item, arrays):
    key = item["id"]
    with open(os.path.join(item["folder"], "magenta_config.json")) as f:
        described = json.load(f)
    config = copy.deepcopy(configs.CONFIG_MAP[described["config"]])
    if described["hparams"]:
        config.hparams.parse(described["hparams"])
    inputs = arrays[f"{key}/inputs"]
    model = TrainedModel(config, batch_size=len(inputs), checkpoint_dir_or_path=item["folder"])
    controls = arrays.get(f"{key}/controls")
    _, mu, sigma = model.encode_tensors(
        list(inputs),
        list(arrays[f"{key}/lengths"]),
        None if controls is None else list(controls),
    )
    samples = model.decode_to_tensors(
        arrays[f"{key}/z"],
        length=config.hparams.max_seq_len,
        temperature=item["temperature"],
        c_input=arrays.get(f"{key}/c_input"),
    )
    return {"mu": mu, "sigma": sigma, "samples": np.asarray(samples, dtype=np.float32)}


def main(job_path):
    with open(job_path) as f:
        job = json.load(f)
    arrays = dict(np.load(job["arrays"]))
    results = {}
    for item in job["models"]:
        try:
            for name, value in run_model(item, arrays).items():
                results[f"{item['id']}/{name}"] = value
        except Exception:  # noqa: BLE001 - reported to the test
            results[f"{item['id']}/error"] = np.array(traceback.format_exc())
    np.savez(job["outputs"], **results)


if __name__ == "__main__":
    main(sys.argv[1])

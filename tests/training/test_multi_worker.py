"""Two real worker processes on 127.0.0.1: `train --distribute multi_worker` (TensorFlow,
`TF_CONFIG`) or `--distribute data_parallel` across 2 JAX processes (`KERAS_DISTRIBUTION_*`).

The job is killed (both workers) once the chief has written a checkpoint
and started again with the same commands: it resumes from that checkpoint
and ends at exactly the requested step, both workers holding the same
weights.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from support import BUNDLED_CORPUS
from support import REPO_ROOT

BACKEND = keras.backend.backend()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BACKEND == "torch", reason="no Keras distribution engine on the torch backend"),
]
KIND = {"tensorflow": "multi_worker", "jax": "data_parallel"}.get(BACKEND)

STEPS = 120
EVERY = 5
TINY = "enc_rnn_size=[16],dec_rnn_size=[16],z_size=4,sampling_schedule=constant,sampling_rate=0"


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start_workers(ports, run_dir, worker_dir, logs):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes = []
    for index in range(len(ports)):
        env = dict(os.environ, KERAS_BACKEND=BACKEND)
        env.pop("KERAS_MUSICVAE_DEBUG", None)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
        if BACKEND == "tensorflow":
            env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        else:  # keras.distribution.initialize: JAX's coordinator on the first port
            env.update(
                KERAS_DISTRIBUTION_JOB_ADDRESSES=f"127.0.0.1:{ports[0]}",
                KERAS_DISTRIBUTION_NUM_PROCESSES=str(len(ports)),
                KERAS_DISTRIBUTION_PROCESS_ID=str(index),
            )
        command = [
            sys.executable, "-m", "keras_musicvae", "train", "--preset", "cat_mel_2bar_small", "--hparams", TINY,
            "--data", str(BUNDLED_CORPUS / "eval"), "--output", str(run_dir), "--worker-dir", str(worker_dir),
            "--batch-size", "8", "--no-augment", "--seed", "0", "--workers", "1", "--steps", str(STEPS),
            "--checkpoint-every", str(EVERY), "--sampled-eval-examples", "0", "--eval-batches", "1",
            "--distribute", KIND,
        ]  # fmt: skip
        log = open(logs / f"worker{index}-{len(list(logs.iterdir()))}.log", "w")
        processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
    return processes


def _weights(path):
    import h5py

    found = {}

    def keep(name, item):  # (visititems stops at a callback returning anything but None)
        if isinstance(item, h5py.Dataset):
            found[name] = np.asarray(item)

    with h5py.File(path, "r") as f:
        f.visititems(keep)
    return found


def _log_tail(logs):
    return "\n".join(f"--- {p.name}\n" + p.read_text()[-3000:] for p in sorted(logs.iterdir()))


def test_two_workers_killed_and_restarted_end_at_exactly_n_steps(tmp_path):
    from keras_musicvae import training

    run_dir, worker_dir, logs = tmp_path / "run", tmp_path / "workers", tmp_path / "logs"
    logs.mkdir()
    processes = _start_workers(_free_ports(2), run_dir, worker_dir, logs)
    killed_at = None
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and all(p.poll() is None for p in processes):
            checkpoint = training.latest_checkpoint(run_dir) if (run_dir / "checkpoints").is_dir() else None
            if checkpoint is not None and checkpoint.step >= EVERY:
                killed_at = checkpoint.step
                break
            time.sleep(0.2)
        assert killed_at is not None and all(p.poll() is None for p in processes), _log_tail(logs)
        for process in processes:
            os.kill(process.pid, signal.SIGKILL)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=60)
    assert killed_at < STEPS, "the job ended before it could be killed; raise STEPS"

    processes = _start_workers(_free_ports(2), run_dir, worker_dir, logs)
    try:
        codes = [p.wait(timeout=900) for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    assert codes == [0, 0], _log_tail(logs)
    chief_log = sorted(logs.glob("worker0-*.log"))[-1].read_text()
    assert f"resuming {run_dir} from step " in chief_log
    assert training.read_checkpoint_state(run_dir)["step"] == STEPS
    assert training.weights_file_iterations(training.latest_checkpoint(run_dir).weights) == STEPS
    assert json.loads((run_dir / "run.json").read_text())["distribute"] == KIND
    chief = _weights(run_dir / "preset" / "model.weights.h5")
    other = _weights(worker_dir / "worker-1" / "preset" / "model.weights.h5")
    assert chief.keys() == other.keys() and len(chief) > 5
    for name in chief:
        np.testing.assert_array_equal(chief[name], other[name], err_msg=name)
    assert not list(run_dir.glob("worker-*")) and not (run_dir / "checkpoints" / "worker-1").exists()

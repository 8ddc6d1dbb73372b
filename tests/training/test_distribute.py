"""`keras_musicvae.training.distribute`: 2 replicas train as 1 device; wrong combinations are refused.

The equivalence runs `replica_run.py` in fresh processes: the second device
(a TensorFlow logical CPU, or a JAX host device through `XLA_FLAGS`) must
exist before the backend starts.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from support import REPO_ROOT

from keras_musicvae.training import distribute

BACKEND = keras.backend.backend()
SCRIPT = os.path.join(os.path.dirname(__file__), "replica_run.py")


def _run_replicas(replicas, out, *extra):
    env = dict(os.environ, KERAS_BACKEND=BACKEND)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    if BACKEND == "jax":
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={replicas}".strip()
    result = subprocess.run(
        [sys.executable, SCRIPT, str(out), str(replicas), *map(str, extra)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return np.load(out)


@pytest.mark.skipif(BACKEND == "torch", reason="no Keras distribution engine on the torch backend")
def test_two_replicas_take_the_same_steps_as_one_device(tmp_path):
    """3 optimizer steps on a global batch of 8: 2 replicas of 4 (TF mirrored / JAX data_parallel) = 1 of 8.

    And the same 2 replicas under "mixed_bfloat16" train too.
    """
    one = _run_replicas(1, tmp_path / "one.npz")
    two = _run_replicas(2, tmp_path / "two.npz")
    assert int(one["iterations"]) == int(two["iterations"]) == 3
    assert int(one["global_step"]) == int(two["global_step"]) == 3  # schedules follow optimizer steps
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-6)
    names = sorted(k for k in one.files if k.startswith("w"))
    assert len(names) > 5
    for name in names:
        np.testing.assert_allclose(two[name], one[name], atol=1e-5, rtol=0, err_msg=name)

    # Mixed precision combines with the replicas (float32 variables, loss and optimizer): the first
    # loss is float32's for the same weights and batch, up to bfloat16 rounding.
    mixed = _run_replicas(2, tmp_path / "mixed.npz", 1, 8, "mixed_bfloat16")
    assert int(mixed["iterations"]) == 3
    np.testing.assert_allclose(mixed["losses"][0], one["losses"][0], rtol=1e-2)
    assert np.all(np.isfinite(mixed["losses"]))


def test_names_need_their_backend():
    wrong = {"tensorflow": "data_parallel", "jax": "mirrored", "torch": "mirrored"}[BACKEND]
    with pytest.raises(distribute.DistributionError, match=f"--distribute {wrong} runs on the"):
        distribute.resolve_distribution(wrong)
    with pytest.raises(distribute.DistributionError, match="unknown distribution 'horovod'"):
        distribute.resolve_distribution("horovod")
    with pytest.raises(distribute.DistributionError, match="devices need a distribution"):
        distribute.resolve_distribution(None, devices=["/gpu:0"])
    with pytest.raises(distribute.DistributionError, match="distribute must be a name"):
        distribute.resolve_distribution(42)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="MultiWorkerMirroredStrategy is TensorFlow's")
def test_multi_worker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(distribute.DistributionError, match="needs the TF_CONFIG environment variable"):
        distribute.resolve_distribution("multi_worker")


def test_one_device_and_the_global_batch():
    single = distribute.resolve_distribution(None)
    assert (single.kind, single.num_replicas, single.is_chief) == ("none", 1, True)
    assert distribute.describe(single) == "one device"
    four = distribute.Distribution(kind="mirrored", num_replicas=4)
    four.check_batch_size(512)
    with pytest.raises(distribute.DistributionError, match="must divide evenly over the 4 replicas"):
        four.check_batch_size(510)
    built = []
    dataset = single.training_dataset(lambda n, i, b: built.append((n, i, b)) or "dataset", 64)
    assert dataset == "dataset" and built == [(1, 0, 64)]

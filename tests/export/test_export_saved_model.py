"""SavedModel export: every signature, called from a TensorFlow-only process,
against the Keras model; `saved_model_cli`; seeded sampling; errors."""

import pathlib
import subprocess

import numpy as np
import pytest

from _export_testing import argmax_tokens
from _export_testing import random_encode_inputs
from _export_testing import run_tf_only
from _export_testing import small_model
from _export_testing import tensorflow_backend_only

pytestmark = tensorflow_backend_only

SAVED_MODEL_CLI = pathlib.Path(__file__).resolve().parents[2] / ".venv" / "bin" / "saved_model_cli"
BATCH = 3
MAX_BATCH = 8


# ---------------------------------------------------------------- fast checks
def test_noise_matches_the_model_heads():
    """The graph's stateless noise is the heads' `make_noise` with the same int seed."""
    from keras import ops

    from keras_musicvae.export.noise import head_noise
    from keras_musicvae.export.noise import stateless_seed
    from keras_musicvae.export.spec import GUMBEL
    from keras_musicvae.export.spec import LOGISTIC
    from keras_musicvae.layers.heads import CategoricalHead
    from keras_musicvae.layers.heads import GrooveHead

    for head, kind in ((CategoricalHead(90, 8), GUMBEL), (GrooveHead(9, 8), LOGISTIC)):
        shape = (2, 5, head.noise_depth)
        for seed in (0, 7, 123456):
            expected = ops.convert_to_numpy(head.make_noise(shape[:2], seed))
            got = head_noise(kind, shape, stateless_seed(seed, 0)).numpy()
            np.testing.assert_array_equal(got, expected)


def test_graph_slerp_matches_numpy_slerp():
    from keras_musicvae.evaluation.slerp import slerp
    from keras_musicvae.export.serving import ServingGraphs

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 16))
    cases = [(a, b), (a, 2.0 * a), (a, -a), (np.zeros(16), b)]
    for start, end in cases:
        expected = slerp(start, end, np.linspace(0.0, 1.0, 5))
        got = ServingGraphs.slerp(start.astype("float32"), end.astype("float32"), 5).numpy()
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_graph_slerp_grid_matches_numpy_grid():
    from keras_musicvae.evaluation.slerp import interpolation_grid
    from keras_musicvae.export.serving import ServingGraphs

    rng = np.random.default_rng(1)
    corners = rng.normal(size=(4, 16))
    corners[3] = -corners[2]  # an anti-parallel edge takes the linear fallback
    for steps in (2, 5):
        expected = interpolation_grid(corners, steps).reshape(-1, 16)
        got = ServingGraphs.slerp_grid(corners.astype("float32"), steps).numpy()
        np.testing.assert_allclose(got, expected, atol=1e-5)


def _call(call_id, signature, **inputs):
    """One call of `run_tf_only`: signature input name -> key of the arrays."""
    return {"id": call_id, "signature": signature, "inputs": inputs}


def test_decoder_only_model_serves_decode_and_sample(tmp_path):
    """`include_encoder=False`: the `decode` and `sample` signatures, as the whole model's."""
    import tensorflow as tf

    from keras_musicvae import MusicVAE
    from keras_musicvae.export import export_saved_model
    from keras_musicvae.export.spec import ExportSpec

    whole = small_model("cat_mel_2bar_small")
    whole.save_to_preset(tmp_path / "whole")
    model = MusicVAE.from_preset(tmp_path / "whole", include_encoder=False)
    path = export_saved_model(model, tmp_path / "decoder" / "1")
    loaded = tf.saved_model.load(str(path))
    assert sorted(loaded.signatures) == ["decode", "sample", "serving_default"]
    z = np.random.default_rng(2).normal(size=(BATCH, model.z_size)).astype("float32")
    got = loaded.signatures["decode"](z=tf.constant(z), temperature=tf.constant(0.0), seed=tf.constant(7))
    expected = argmax_tokens(whole.decode(z, temperature=0), ExportSpec.from_model(whole).stream_depths)
    np.testing.assert_array_equal(got["tokens"].numpy(), expected)
    prior = loaded.signatures["sample"](
        temperature=tf.constant(1.0), seed=tf.constant(7), num_samples=tf.constant(2)
    )
    assert prior["tokens"].shape == (2, model.max_seq_len, 1)


# ------------------------------------------------- cat_mel_2bar_small, in full
@pytest.fixture(scope="module")
def melody_export(tmp_path_factory):
    from keras_musicvae.export import export_saved_model

    model = small_model("cat_mel_2bar_small")
    path = tmp_path_factory.mktemp("melody") / "cat_mel" / "1"
    export_saved_model(model, path, max_batch=MAX_BATCH)
    return model, path


@pytest.fixture(scope="module")
def melody_results(melody_export, tmp_path_factory):
    """Every signature of the melody export, called from a TensorFlow-only process."""
    from keras_musicvae.export.spec import ExportSpec

    model, path = melody_export
    rng = np.random.default_rng(1)
    inputs, lengths, _ = random_encode_inputs(model, ExportSpec.from_model(model), rng, BATCH)
    arrays = {
        "inputs": inputs,
        "lengths": lengths,
        "z": rng.normal(size=(BATCH, model.z_size)).astype("float32"),
        "zero": np.float32(0.0),
        "one": np.float32(1.0),
        "seed7": np.int32(7),
        "seed8": np.int32(8),
        "n4": np.int32(4),
        "steps5": np.int32(5),
        "big_z": np.zeros((MAX_BATCH + 1, model.z_size), "float32"),
        "minus": np.float32(-1.0),
    }
    prior = {"num_samples": "n4"}
    calls = [
        _call("encode", "encode", inputs="inputs", lengths="lengths"),
        _call("argmax", "decode", z="z", temperature="zero", seed="seed7"),
        _call("default", "serving_default", z="z", temperature="zero", seed="seed7"),
        _call("s7a", "decode", z="z", temperature="one", seed="seed7"),
        _call("s7b", "decode", z="z", temperature="one", seed="seed7"),
        _call("s8", "decode", z="z", temperature="one", seed="seed8"),
        _call("prior7a", "sample", temperature="one", seed="seed7", **prior),
        _call("prior7b", "sample", temperature="one", seed="seed7", **prior),
        _call("prior8", "sample", temperature="one", seed="seed8", **prior),
        _call("prior_argmax", "sample", temperature="zero", seed="seed7", **prior),
        _call(
            "interp", "interpolate",
            start="start", end="end", num_steps="steps5", temperature="zero", seed="seed7",
        ),
        _call(
            "grid", "interpolate_grid",
            corners="corners", num_steps="steps2", temperature="zero", seed="seed7",
        ),
        _call(
            "grid_too_big", "interpolate_grid",
            corners="corners", num_steps="steps3", temperature="zero", seed="seed7",
        ),
        _call("too_big", "decode", z="big_z", temperature="zero", seed="seed7"),
        _call("negative", "decode", z="z", temperature="minus", seed="seed7"),
    ]
    arrays["start"], arrays["end"] = inputs[0], inputs[1]
    arrays["corners"] = np.stack([inputs[0], inputs[1], inputs[2], inputs[0]])
    arrays["steps2"], arrays["steps3"] = np.int32(2), np.int32(3)  # 3 x 3 = 9 > MAX_BATCH
    outputs = run_tf_only(tmp_path_factory.mktemp("melody_run"), path, arrays, calls)
    return model, arrays, outputs


@pytest.mark.slow
def test_encode_matches_keras(melody_results):
    model, arrays, out = melody_results
    mu, sigma = model.encode(arrays["inputs"], arrays["lengths"])
    assert out["encode/mu"].shape == (BATCH, model.z_size)
    np.testing.assert_allclose(out["encode/mu"], mu, atol=1e-5, rtol=0)
    np.testing.assert_allclose(out["encode/sigma"], sigma, atol=1e-5, rtol=0)
    assert np.abs(mu).max() > 0.1  # non-trivial weights: the comparison means something


@pytest.mark.slow
def test_argmax_decode_matches_keras(melody_results):
    model, arrays, out = melody_results
    expected = model.decode(arrays["z"], temperature=0)
    tokens = out["argmax/tokens"]
    assert tokens.dtype == np.int32 and tokens.shape == (BATCH, model.max_seq_len, 1)
    np.testing.assert_array_equal(tokens[..., 0], np.argmax(expected, -1))
    np.testing.assert_array_equal(out["argmax/one_hot"], expected)
    assert len(np.unique(tokens)) > 3  # not a constant output
    np.testing.assert_array_equal(out["default/tokens"], tokens)


@pytest.mark.slow
def test_seeded_decode_is_deterministic_and_matches_keras_seed(melody_results):
    model, arrays, out = melody_results
    np.testing.assert_array_equal(out["s7a/tokens"], out["s7b/tokens"])
    assert (out["s7a/tokens"] != out["s8/tokens"]).any()
    assert (out["s7a/tokens"] != out["argmax/tokens"]).any()
    # One output head: the graph's noise is Keras' noise for the same int seed.
    expected = model.decode(arrays["z"], temperature=1.0, seed=7)
    np.testing.assert_array_equal(out["s7a/one_hot"], expected)


@pytest.mark.slow
def test_sample(melody_results):
    model, _, out = melody_results
    assert out["prior7a/tokens"].shape == (4, model.max_seq_len, 1)
    assert out["prior7a/z"].shape == (4, model.z_size)
    np.testing.assert_array_equal(out["prior7a/tokens"], out["prior7b/tokens"])
    np.testing.assert_array_equal(out["prior7a/z"], out["prior7b/z"])
    assert (out["prior7a/z"] != out["prior8/z"]).all()
    expected = model.decode(out["prior_argmax/z"], temperature=0)
    np.testing.assert_array_equal(out["prior_argmax/tokens"][..., 0], np.argmax(expected, -1))


@pytest.mark.slow
def test_interpolate(melody_results):
    from keras_musicvae.evaluation.slerp import slerp

    model, arrays, out = melody_results
    mu, _ = model.encode(np.stack([arrays["start"], arrays["end"]]))
    z = out["interp/z"]
    assert z.shape == (5, model.z_size)
    np.testing.assert_allclose(z, slerp(mu[0], mu[1], np.linspace(0, 1, 5)), atol=1e-5)
    np.testing.assert_allclose(z[[0, -1]], mu, atol=1e-5)
    expected = model.decode(z, temperature=0)
    np.testing.assert_array_equal(out["interp/tokens"][..., 0], np.argmax(expected, -1))


@pytest.mark.slow
def test_interpolate_grid(melody_results):
    from keras_musicvae.evaluation.slerp import interpolation_grid

    model, arrays, out = melody_results
    mu, _ = model.encode(arrays["corners"])
    z = out["grid/z"]
    assert z.shape == (4, model.z_size)  # 2 x 2, row by row
    np.testing.assert_allclose(z, interpolation_grid(mu, 2).reshape(4, -1), atol=1e-5)
    np.testing.assert_allclose(z, mu[[0, 2, 1, 3]], atol=1e-5)  # the corners, magenta.js's order
    grid = model.interpolate_grid(arrays["corners"], 2, temperature=0)
    np.testing.assert_array_equal(out["grid/tokens"][..., 0], np.argmax(grid.reshape((4,) + grid.shape[2:]), -1))
    assert "num_steps * num_steps exceeds max_batch" in str(out["grid_too_big/error"])


@pytest.mark.slow
def test_bad_calls_fail_with_clear_messages(melody_results):
    _, _, out = melody_results
    assert f"max_batch={MAX_BATCH}" in str(out["too_big/error"])
    assert "temperature must be >= 0" in str(out["negative/error"])


@pytest.mark.slow
def test_saved_model_cli_lists_the_signatures(melody_export):
    model, path = melody_export
    result = subprocess.run(
        [str(SAVED_MODEL_CLI), "show", "--all", "--dir", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    text = result.stdout
    sections = {
        name: _signature_section(text, name)
        for name in ("encode", "decode", "sample", "interpolate", "interpolate_grid", "serving_default")
    }
    t, d, z = model.max_seq_len, model.input_depth, model.z_size
    assert _io(sections["encode"], "inputs", "inputs") == ("DT_FLOAT", f"(-1, {t}, {d})")
    assert _io(sections["encode"], "inputs", "lengths") == ("DT_INT32", "(-1)")
    assert _io(sections["encode"], "outputs", "mu") == ("DT_FLOAT", f"(-1, {z})")
    assert _io(sections["encode"], "outputs", "sigma") == ("DT_FLOAT", f"(-1, {z})")
    for name in ("decode", "serving_default"):
        assert _io(sections[name], "inputs", "z") == ("DT_FLOAT", f"(-1, {z})")
        assert _io(sections[name], "inputs", "temperature") == ("DT_FLOAT", "()")
        assert _io(sections[name], "inputs", "seed") == ("DT_INT32", "()")
        assert _io(sections[name], "outputs", "tokens") == ("DT_INT32", f"(-1, {t}, 1)")
        assert _io(sections[name], "outputs", "one_hot") == ("DT_FLOAT", f"(-1, {t}, {d})")
    assert _io(sections["sample"], "inputs", "num_samples") == ("DT_INT32", "()")
    assert _io(sections["sample"], "outputs", "tokens") == ("DT_INT32", f"(-1, {t}, 1)")
    assert _io(sections["interpolate"], "inputs", "start") == ("DT_FLOAT", f"({t}, {d})")
    assert _io(sections["interpolate"], "inputs", "end") == ("DT_FLOAT", f"({t}, {d})")
    assert _io(sections["interpolate"], "inputs", "num_steps") == ("DT_INT32", "()")
    assert _io(sections["interpolate"], "outputs", "tokens") == ("DT_INT32", f"(-1, {t}, 1)")
    assert _io(sections["interpolate_grid"], "inputs", "corners") == ("DT_FLOAT", f"(4, {t}, {d})")
    assert _io(sections["interpolate_grid"], "outputs", "z") == ("DT_FLOAT", f"(-1, {z})")


def _signature_section(text, name):
    start = text.index(f"signature_def['{name}']:")
    end = text.find("signature_def[", start + 1)
    return text[start : end if end > 0 else None]


def _io(section, kind, name):
    """`(dtype, shape)` of input / output `name` in a `saved_model_cli` section."""
    part = section.split("The given SavedModel SignatureDef contains the following output(s):")
    part = part[0] if kind == "inputs" else part[1]
    block = part[part.index(f"['{name}'] tensor_info:") :]
    dtype = block.split("dtype: ", 1)[1].split()[0]
    shape = block.split("shape: ", 1)[1].split("\n")[0].strip()
    return dtype, shape


@pytest.mark.slow
def test_overwrite_is_refused_then_atomic(melody_export):
    from keras_musicvae.export import export_saved_model

    model, path = melody_export
    before = (path / "saved_model.pb").stat().st_ino
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_saved_model(model, path)
    assert (path / "saved_model.pb").stat().st_ino == before
    export_saved_model(model, path, max_batch=MAX_BATCH, overwrite=True)
    assert (path / "saved_model.pb").stat().st_ino != before
    assert sorted(p.name for p in path.parent.iterdir()) == ["1"]  # no temporary folders left


# ----------------------------------------- controls, trio streams and GrooVAE
@pytest.mark.slow
@pytest.mark.parametrize(
    "preset", ["cat_mel_2bar_med_chords", "hierdec_trio_16bar", "groovae_2bar_hits_control"]
)
def test_other_output_kinds_match_keras(preset, tmp_path):
    from keras_musicvae.export import export_saved_model
    from keras_musicvae.export.spec import ExportSpec

    model = small_model(preset)
    spec = ExportSpec.from_model(model)
    export_saved_model(model, tmp_path / "model" / "1")
    rng = np.random.default_rng(2)
    inputs, lengths, controls = random_encode_inputs(model, spec, rng, BATCH)
    arrays = {
        "inputs": inputs,
        "lengths": lengths,
        "z": rng.normal(size=(BATCH, model.z_size)).astype("float32"),
        "zero": np.float32(0.0),
        "one": np.float32(1.0),
        "seed": np.int32(3),
    }
    extra = {}
    if controls is not None:
        arrays["controls"] = controls
        extra = {"controls": "controls"}
    calls = [
        _call("encode", "encode", inputs="inputs", lengths="lengths", **extra),
        _call("argmax", "decode", z="z", temperature="zero", seed="seed", **extra),
        _call("a", "decode", z="z", temperature="one", seed="seed", **extra),
        _call("b", "decode", z="z", temperature="one", seed="seed", **extra),
    ]
    out = run_tf_only(tmp_path, tmp_path / "model" / "1", arrays, calls)

    mu, sigma = model.encode(inputs, lengths, controls=controls)
    np.testing.assert_allclose(out["encode/mu"], mu, atol=1e-5, rtol=0)
    np.testing.assert_allclose(out["encode/sigma"], sigma, atol=1e-5, rtol=0)
    expected = model.decode(arrays["z"], temperature=0, controls=controls)
    if spec.output_kind == "groove":
        assert set(k.split("/")[1] for k in out if k.startswith("argmax/")) == {
            "outputs", "hits", "velocities", "offsets"
        }
        np.testing.assert_array_equal(out["argmax/hits"], expected[..., :9])
        np.testing.assert_allclose(out["argmax/outputs"], expected, atol=1e-5)
        np.testing.assert_array_equal(out["a/outputs"], out["b/outputs"])
    else:
        tokens = out["argmax/tokens"]
        assert tokens.shape == (BATCH, model.max_seq_len, spec.num_streams)
        np.testing.assert_array_equal(tokens, argmax_tokens(expected, spec.stream_depths))
        np.testing.assert_array_equal(out["a/tokens"], out["b/tokens"])


@pytest.mark.slow
def test_saved_model_cli_run_loads_it_like_tf_serving(melody_export, melody_results, tmp_path):
    """`saved_model_cli run` loads through the session-based (TF1) loader, as TF Serving does."""
    _, path = melody_export
    _, _, out = melody_results
    result = subprocess.run(
        [
            str(SAVED_MODEL_CLI), "run", "--dir", str(path), "--tag_set", "serve",
            "--signature_def", "sample", "--outdir", str(tmp_path),
            "--input_exprs", "temperature=1.0;seed=7;num_samples=4",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    np.testing.assert_array_equal(np.load(tmp_path / "tokens.npy"), out["prior7a/tokens"])
    np.testing.assert_array_equal(np.load(tmp_path / "z.npy"), out["prior7a/z"])

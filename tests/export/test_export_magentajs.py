"""magenta.js export (`export_magentajs`) and reading magenta.js folders back (`convert_magentajs`).

The models are the Magenta fixtures converted (trained weights, reduced
sizes), one per family magenta.js runs. The Node tests run the real client,
`@magenta/music` 1.23.1 (pinned in tests/js/package.json) on tfjs's CPU
backend, which fetches the exported folder from a local HTTP server, and
compare with Keras: `mu` to 1e-4 (measured: at most 2e-6), greedy decoding
identical (GrooVAE's continuous velocities and offsets to 1e-5).

Two differences of magenta.js's own data converters from Magenta's, found
here and checked as such (they are magenta.js's, not the export's):
* drums: `DrumsConverter.toTensor` writes the "no hit" bit of step t at
  step t - 1 (it indexes its buffer with -1); the drum hits agree.
* multitrack: magenta.js leaves out a track's first velocity event when it
  is the top velocity bin, Magenta writes it.
"""

import json
import shutil

import numpy as np
import pytest

from _magentajs_support import note_sequence_json
from _magentajs_support import require_magentajs
from _magentajs_support import run_cli
from _magentajs_support import run_magentajs
from support import magenta_fixtures

# Fixture -> steps per quarter of the NoteSequences magenta.js reads (None:
# left unquantized, magenta.js's GrooveConverter quantizes itself).
FAMILIES = {
    "cat-mel_2bar_small": 4,
    "cat-drums_2bar_small": 4,
    "nade-drums_2bar_reduced": 4,
    "groovae_2bar_humanize": None,
    "cat-mel_2bar_med_chords": 4,
    "hier-mel_16bar": 4,
    "hier-trio_16bar": 4,
    "hier-multiperf_vel_1bar_med": 24,
}
CHORDS = ["C", "Am", "F", "G"]
BATCH = 2
MU_TOLERANCE = 1e-4

EXPORTABLE_PRESETS = {
    "cat_drums_2bar_big": "DrumsConverter",
    "cat_drums_2bar_small": "DrumsConverter",
    "cat_mel_2bar_big": "MelodyConverter",
    "cat_mel_2bar_med_chords": "MelodyConverter",
    "cat_mel_2bar_small": "MelodyConverter",
    "groovae_2bar_humanize": "GrooveConverter",
    "groovae_2bar_tap_fixed_velocity": "GrooveConverter",
    "groovae_2bar_tap_fixed_velocity_note_dropout": "GrooveConverter",
    "groovae_4bar": "GrooveConverter",
    "hier_mel_16bar": "MelodyConverter",
    "hier_multiperf_vel_1bar_big": "MultitrackConverter",
    "hier_multiperf_vel_1bar_big_chords": "MultitrackConverter",
    "hier_multiperf_vel_1bar_med": "MultitrackConverter",
    "hier_multiperf_vel_1bar_med_chords": "MultitrackConverter",
    "hier_trio_16bar": "TrioConverter",
    "nade_drums_2bar_full": "DrumRollConverter",
    "nade_drums_2bar_reduced": "DrumRollConverter",
}
REFUSED_PRESETS = {
    "flat_mel_16bar": "bidirectional encoder has 2 layers",
    "flat_trio_16bar": "one LSTM with several softmaxes",
    "hierdec_mel_16bar": "hierarchical decoder behind a flat encoder",
    "hierdec_trio_16bar": "hierarchical decoder behind a flat encoder",
    "groovae_2bar_add_closed_hh": "add_instruments",
    "groovae_2bar_hits_control": "hits_as_controls",
}


# ------------------------------------------------------------------ helpers
_CONVERTED = {}


def converted(name):
    """The fixture `name` converted from its Magenta checkpoint (cached), and its io arrays."""
    if name not in _CONVERTED:
        from keras_musicvae.convert import convert_magenta_checkpoint

        folder = magenta_fixtures() / name
        _CONVERTED[name] = (
            convert_magenta_checkpoint(folder / "checkpoint", name),
            dict(np.load(folder / "io.npz")),
        )
    return _CONVERTED[name]


def assert_same_weights(model, other, same_step=True):
    """Every weight equal; with `same_step=False` all but the step counter."""
    assert [w.path for w in model.weights] == [w.path for w in other.weights]
    for a, b in zip(model.weights, other.weights):
        if not same_step and a.path == model.global_step.path:
            continue
        np.testing.assert_array_equal(_numpy(a), _numpy(b), err_msg=a.path)


def _numpy(variable):
    from keras_musicvae.export.magenta_variables import to_numpy

    return to_numpy(variable)


def chord_controls(chords, num_steps):
    """magenta.js's `encodeProgression`: chord `floor(i * n / T)` at step i, one-hot triads."""
    import note_seq

    encoding = note_seq.TriadChordOneHotEncoding()
    controls = np.zeros((num_steps, encoding.num_classes), np.float32)
    for step in range(num_steps):
        controls[step, encoding.encode_event(chords[step * len(chords) // num_steps])] = 1.0
    return controls


# --------------------------------------------------------- the spec (no Node)
@pytest.mark.parametrize("preset", sorted(EXPORTABLE_PRESETS))
def test_spec_names_the_magentajs_converter(preset):
    from keras_musicvae.export.magentajs import magentajs_spec
    from keras_musicvae.presets import load_preset_config

    config = load_preset_config(preset)
    spec = magentajs_spec(config)
    assert spec["type"] == "MusicVAE"
    data = spec["dataConverter"]
    assert data["type"] == EXPORTABLE_PRESETS[preset]
    assert data["args"]["numSteps"] == config["max_seq_len"]
    hierarchical = bool(config.get("decoder_level_lengths"))
    assert ("numSegments" in data["args"]) == hierarchical
    assert (spec.get("chordEncoder") == "TriadChordEncoder") == bool(config.get("control_depth"))


@pytest.mark.parametrize("preset", sorted(REFUSED_PRESETS))
def test_spec_refuses_what_magentajs_cannot_run(preset):
    from keras_musicvae.export.magentajs import MagentaJSUnsupportedError
    from keras_musicvae.export.magentajs import magentajs_spec
    from keras_musicvae.presets import load_preset_config

    with pytest.raises(MagentaJSUnsupportedError) as error:
        magentajs_spec(load_preset_config(preset))
    assert preset in str(error.value)
    assert REFUSED_PRESETS[preset] in str(error.value)


@pytest.mark.fixtures
def test_refused_export_writes_nothing(tmp_path):
    from keras_musicvae.export import export_magentajs
    from keras_musicvae.export.magentajs import MagentaJSUnsupportedError

    model, _ = converted("hierdec-mel_16bar")
    with pytest.raises(MagentaJSUnsupportedError, match="hierarchical decoder behind a flat encoder"):
        export_magentajs(model, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------ weights format, round trip
@pytest.mark.fixtures
def test_weights_are_tfjs_shards_of_magenta_variables(tmp_path):
    from keras_musicvae.convert import magentajs
    from keras_musicvae.convert import read_checkpoint
    from keras_musicvae.export import export_magentajs
    from keras_musicvae.export.magenta_variables import magenta_variables

    model, _ = converted("hier-trio_16bar")
    folder = export_magentajs(model, tmp_path / "trio", shard_bytes=1_000_000)
    manifest = json.loads((folder / "weights_manifest.json").read_text())
    assert len(manifest) == 1
    paths = manifest[0]["paths"]
    sizes = [(folder / p).stat().st_size for p in paths]
    assert len(paths) > 1 and all(s == 1_000_000 for s in sizes[:-1]) and 0 < sizes[-1] <= 1_000_000
    assert paths == [f"group1-shard{i}of{len(paths)}.bin" for i in range(1, len(paths) + 1)]
    entries = manifest[0]["weights"]
    assert {e["dtype"] for e in entries} == {"float32"}
    assert sum(4 * int(np.prod(e["shape"])) for e in entries) == sum(sizes)

    exported = magenta_variables(model)
    read = magentajs.read_weights(folder)
    assert list(read) == [e["name"] for e in entries] == list(exported)
    for name, value in exported.items():
        np.testing.assert_array_equal(read[name], value, err_msg=name)
    # Magenta's own names, shapes and (up to the forget-bias rounding) values.
    original = read_checkpoint(magenta_fixtures() / "hier-trio_16bar" / "checkpoint")
    assert sorted(original) == sorted(read)
    for name, value in original.items():
        np.testing.assert_allclose(read[name], value, rtol=0, atol=1.2e-7, err_msg=name)
    spec = json.loads((folder / "config.json").read_text())
    assert "encoder/hierarchical_level_1/cell_0/bidirectional_rnn/bw/multi_rnn_cell/cell_0/lstm_cell/kernel" in read
    assert spec["kerasMusicVAE"]["config"] == json.loads(json.dumps(model.get_config()))


@pytest.mark.fixtures
def test_default_shards_are_at_most_4_mib(tmp_path):
    from keras_musicvae.export import export_magentajs

    model, _ = converted("cat-mel_2bar_small")  # 17.7 MB of weights
    folder = export_magentajs(model, tmp_path / "mel")
    sizes = [p.stat().st_size for p in sorted(folder.glob("*.bin"))]
    assert len(sizes) == 5 and max(sizes) == 4 * 1024 * 1024


@pytest.mark.fixtures
@pytest.mark.parametrize(
    "name", ["hier-trio_16bar", "groovae_2bar_humanize", "nade-drums_2bar_reduced", "cat-mel_2bar_med_chords"]
)
def test_round_trip_gives_identical_weights(tmp_path, name):
    """export -> convert back: from our Keras config, from the magenta.js spec alone, and
    through the TF1-checkpoint converter's entry point."""
    from keras_musicvae.convert import convert_magenta_checkpoint
    from keras_musicvae.convert import convert_magentajs
    from keras_musicvae.export import export_magentajs

    model, _ = converted(name)
    folder = export_magentajs(model, tmp_path / "js")
    back = convert_magentajs(folder, output=tmp_path / "preset")
    assert back.get_config() == model.get_config()
    assert_same_weights(model, back)
    assert (tmp_path / "preset" / "model.weights.h5").exists()

    spec = json.loads((folder / "config.json").read_text())
    del spec["kerasMusicVAE"]  # a folder magenta.js users publish: no Keras config
    (folder / "config.json").write_text(json.dumps(spec))
    inferred = convert_magentajs(folder)
    assert inferred.converter_config["class_name"] == model.converter_config["class_name"]
    # Without our key the folder carries no training step (as Google's own).
    assert_same_weights(model, inferred, same_step=False)
    assert int(_numpy(inferred.global_step)) == 0
    assert_same_weights(model, convert_magenta_checkpoint(folder, name), same_step=False)


def test_reads_quantized_and_multi_group_manifests(tmp_path):
    from keras_musicvae.convert import magentajs

    q = np.array([0, 128, 255], np.uint8)
    half = np.array([[0.5, -2.0]], np.float16)
    full = np.arange(6, dtype="<f4").reshape(2, 3)
    (tmp_path / "a.bin").write_bytes(q.tobytes() + half.tobytes())
    (tmp_path / "b1.bin").write_bytes(full.tobytes()[:10])
    (tmp_path / "b2.bin").write_bytes(full.tobytes()[10:])
    manifest = [
        {
            "paths": ["a.bin"],
            "weights": [
                {"name": "q", "shape": [3], "dtype": "float32",
                 "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}},
                {"name": "h", "shape": [1, 2], "dtype": "float32", "quantization": {"dtype": "float16"}},
            ],
        },
        {"paths": ["b1.bin", "b2.bin"], "weights": [{"name": "f", "shape": [2, 3], "dtype": "float32"}]},
    ]
    (tmp_path / "weights_manifest.json").write_text(json.dumps(manifest))
    read = magentajs.read_weights(tmp_path)
    np.testing.assert_array_equal(read["q"], [-1.0, 63.0, 126.5])
    np.testing.assert_array_equal(read["h"], [[0.5, -2.0]])
    np.testing.assert_array_equal(read["f"], full)
    (tmp_path / "b2.bin").write_bytes(full.tobytes()[10:-4])
    with pytest.raises(ValueError, match="shards end inside f"):
        magentajs.read_weights(tmp_path)


# ------------------------------------------------------------- magenta.js
def _js_job(name, folder, model, io, sequences_json=None):
    job = {
        "name": name,
        "folder": str(folder),
        "inputs": io["input_sequence"][:BATCH].tolist(),
        "z": io["greedy_z"][:BATCH].tolist(),
    }
    if model.control_depth:
        job["chords"] = CHORDS
    if sequences_json is not None:
        job["sequences"] = sequences_json
    return job


def _keras_mu(model, inputs, lengths=None):
    controls = chord_controls(CHORDS, model.max_seq_len) if model.control_depth else None
    mu, _ = model.encode(np.asarray(inputs, np.float32), lengths, controls=controls)
    return mu


def _keras_decode(model, z):
    controls = chord_controls(CHORDS, model.max_seq_len) if model.control_depth else None
    return model.decode(np.asarray(z, np.float32), temperature=0, controls=controls)


def _check_decoded(model, js_decoded, keras_decoded):
    js_decoded = np.asarray(js_decoded, np.float32)
    assert js_decoded.shape == keras_decoded.shape
    if model.output_head == "groove":
        hits = model.output_depth // 3
        np.testing.assert_array_equal(js_decoded[..., :hits], keras_decoded[..., :hits])
        np.testing.assert_allclose(js_decoded[..., hits:], keras_decoded[..., hits:], atol=1e-5)
    else:
        np.testing.assert_array_equal(js_decoded, keras_decoded)


@pytest.mark.fixtures
def test_magentajs_runs_the_export_nade_drums(tmp_path):
    """The quick one (a few seconds): NADE drums in magenta.js."""
    from keras_musicvae.export import export_magentajs

    require_magentajs()
    model, io = converted("nade-drums_2bar_reduced")
    folder = export_magentajs(model, tmp_path / "nade")
    out = run_magentajs([_js_job("nade", folder, model, io)], tmp_path, timeout=300)
    result = out["results"]["nade"]
    assert "error" not in result, result.get("error")
    assert out["versions"]["magenta"] == "1.23.1" and out["backend"] == "cpu"
    mu = _keras_mu(model, io["input_sequence"][:BATCH], io["sequence_length"][:BATCH])
    np.testing.assert_allclose(result["mu"], mu, atol=MU_TOLERANCE, rtol=0)
    _check_decoded(model, result["decoded"], _keras_decode(model, io["greedy_z"][:BATCH]))


@pytest.fixture(scope="module")
def magentajs_families(tmp_path_factory):
    """Every family exported, run once in magenta.js: `{name: (model, io, sequences, result)}`."""
    from keras_musicvae.data.converter import converter_from_config
    from keras_musicvae.export import export_magentajs

    require_magentajs()
    root = tmp_path_factory.mktemp("magentajs")
    jobs, cases = [], {}
    for name, steps_per_quarter in FAMILIES.items():
        model, io = converted(name)
        folder = export_magentajs(model, root / name)
        converter = converter_from_config(model.converter_config, mode="infer")
        sequences = converter.from_tensors(io["output_sequence"][:BATCH])
        payload = [note_sequence_json(s, steps_per_quarter) for s in sequences]
        jobs.append(_js_job(name, folder, model, io, payload))
        cases[name] = (model, io, converter, sequences)
    out = run_magentajs(jobs, root)
    return {name: cases[name] + (out["results"][name],) for name in FAMILIES}


@pytest.mark.slow
@pytest.mark.fixtures
@pytest.mark.parametrize("name", list(FAMILIES))
def test_magentajs_encodes_like_keras(magentajs_families, name):
    model, io, _, _, result = magentajs_families[name]
    assert "error" not in result, result.get("error")
    lengths = io["sequence_length"][:BATCH]
    mu = _keras_mu(model, io["input_sequence"][:BATCH], lengths)
    np.testing.assert_allclose(result["mu"], mu, atol=MU_TOLERANCE, rtol=0)
    # ... and Magenta's own mu of these inputs.
    if not model.control_depth:
        np.testing.assert_allclose(result["mu"], io["mu"][:BATCH], atol=MU_TOLERANCE, rtol=0)


@pytest.mark.slow
@pytest.mark.fixtures
@pytest.mark.parametrize("name", list(FAMILIES))
def test_magentajs_reads_note_sequences_like_keras(magentajs_families, name):
    """magenta.js's data converter (as configured by config.json) against ours, on the same
    NoteSequences; then the encoding of magenta.js's own tensors."""
    model, _, converter, sequences, result = magentajs_families[name]
    assert "error" not in result, result.get("error")
    js_tensors = np.asarray(result["tensors"], np.float32)
    ours = np.stack([np.asarray(converter.to_tensors(s).inputs[0], np.float32) for s in sequences])
    assert js_tensors.shape == ours.shape
    if name in ("cat-drums_2bar_small", "nade-drums_2bar_reduced"):
        # magenta.js writes the "no hit" bit of step t at step t - 1.
        np.testing.assert_array_equal(js_tensors[..., :-1], ours[..., :-1])
        np.testing.assert_array_equal(js_tensors[:, :-1, -1], ours[:, 1:, -1])
    elif name == "hier-multiperf_vel_1bar_med":
        # magenta.js leaves out the first velocity event when it is the top bin.
        top_velocity = 351 + converter.num_velocity_bins
        for js_row, our_row in zip(js_tensors.reshape(-1, 64, 490), ours.reshape(-1, 64, 490)):
            js_tokens = [t for t in js_row.argmax(-1)[js_row.any(-1)]]
            our_tokens = [t for t in our_row.argmax(-1)[our_row.any(-1)]]
            if our_tokens[1:2] == [top_velocity]:
                del our_tokens[1]
            assert js_tokens == our_tokens
    else:
        np.testing.assert_allclose(js_tensors, ours, atol=1e-5, rtol=0)
    lengths = None
    if model.encoder_level_lengths and converter.length_shape:
        # Track slots: the rows up to the end token (magenta.js finds them the same way).
        slots = js_tensors.reshape(len(js_tensors), converter.length_shape[0], -1, js_tensors.shape[-1])
        lengths = slots.any(-1).sum(-1).astype("int32")
    np.testing.assert_allclose(
        result["mu_sequences"], _keras_mu(model, js_tensors, lengths), atol=MU_TOLERANCE, rtol=0
    )


def _note_keys(notes, steps_per_quarter, from_js):
    keys = []
    step_seconds = 60.0 / 120.0 / steps_per_quarter
    for note in notes:
        if from_js:
            drum = bool(note.get("isDrum", False))
            start, end = note.get("quantizedStartStep", 0), note.get("quantizedEndStep", 0)
            pitch = note["pitch"]
        else:
            drum = note.is_drum
            start, end = round(note.start_time / step_seconds), round(note.end_time / step_seconds)
            pitch = note.pitch
        keys.append((drum, int(pitch), int(start), None if drum else int(end)))
    return sorted(keys)


@pytest.mark.slow
@pytest.mark.fixtures
@pytest.mark.parametrize("name", list(FAMILIES))
def test_magentajs_greedy_decoding_is_identical(magentajs_families, name):
    model, io, converter, _, result = magentajs_families[name]
    assert "error" not in result, result.get("error")
    decoded = _keras_decode(model, io["greedy_z"][:BATCH])
    _check_decoded(model, result["decoded"], decoded)
    if name in ("groovae_2bar_humanize", "hier-multiperf_vel_1bar_med"):
        return  # timing / performance events: the tensors above are the check
    steps_per_quarter = FAMILIES[name]
    for js_notes, sequence in zip(result["decoded_notes"], converter.from_tensors(decoded)):
        assert _note_keys(js_notes, steps_per_quarter, True) == _note_keys(sequence.notes, steps_per_quarter, False)


# ------------------------------------------------------------------- CLI
@pytest.mark.slow
@pytest.mark.fixtures
def test_cli_export_magentajs_and_convert_back(tmp_path):
    from keras_musicvae import MusicVAE

    model, _ = converted("nade-drums_2bar_reduced")
    model.save_to_preset(tmp_path / "preset")
    result = run_cli("export", "--model", tmp_path / "preset", "--format", "magentajs", "--output", tmp_path / "js")
    assert result.returncode == 0, result.stderr
    assert "magenta.js folder" in result.stdout
    assert (tmp_path / "js" / "weights_manifest.json").exists()
    result = run_cli("convert", "--checkpoint", tmp_path / "js", "--output", tmp_path / "back")
    assert result.returncode == 0, result.stderr
    assert_same_weights(model, MusicVAE.from_preset(tmp_path / "back"))

    shutil.rmtree(tmp_path / "preset")
    refused, _ = converted("hierdec-mel_16bar")
    refused.save_to_preset(tmp_path / "preset")
    result = run_cli("export", "--model", tmp_path / "preset", "--format", "magentajs", "--output", tmp_path / "no")
    assert result.returncode != 0
    assert "hierarchical decoder behind a flat encoder" in result.stderr
    assert not (tmp_path / "no").exists()

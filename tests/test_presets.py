"""Built-in presets: Magenta's variable shapes at full size, a training step
of every preset at tiny sizes, aliases, errors, and preset folders."""

import collections
import json

import keras
import numpy as np
import pytest
from keras import ops

from layers.numpy_reference import compiled
from support import magenta_fixtures
from keras_musicvae.models.music_vae import MusicVAE
from keras_musicvae.presets import builtin_presets_dir
from keras_musicvae.presets import canonical_preset_name
from keras_musicvae.presets import list_presets
from keras_musicvae.presets import load_preset_config
from keras_musicvae.presets import resolve_preset

PRESETS = [
    "cat_drums_2bar_big",
    "cat_drums_2bar_small",
    "cat_mel_2bar_big",
    "cat_mel_2bar_med_chords",
    "cat_mel_2bar_small",
    "flat_mel_16bar",
    "flat_trio_16bar",
    "groovae_2bar_add_closed_hh",
    "groovae_2bar_hits_control",
    "groovae_2bar_humanize",
    "groovae_2bar_tap_fixed_velocity",
    "groovae_2bar_tap_fixed_velocity_note_dropout",
    "groovae_4bar",
    "hier_mel_16bar",
    "hier_multiperf_vel_1bar_big",
    "hier_multiperf_vel_1bar_big_chords",
    "hier_multiperf_vel_1bar_med",
    "hier_multiperf_vel_1bar_med_chords",
    "hier_trio_16bar",
    "hierdec_mel_16bar",
    "hierdec_trio_16bar",
    "nade_drums_2bar_full",
    "nade_drums_2bar_reduced",
]


def _metadata(name):
    return json.loads((builtin_presets_dir() / name / "metadata.json").read_text())


def test_list_presets_has_the_23_presets_with_descriptions():
    presets = list_presets()
    assert sorted(presets) == PRESETS
    for name, description in presets.items():
        assert isinstance(description, str) and len(description) > 10, name


# ------------------------------------------------- full-size Magenta shapes
def _magenta_shapes(fixture):
    """Multiset of Magenta's variable shapes, LSTM kernels split like ours."""
    shapes = collections.Counter()
    for variable in fixture["trainable_variables"]:
        shape = tuple(variable["shape"])
        if variable["name"].endswith("lstm_cell/kernel"):
            units = shape[1] // 4
            shapes[(shape[0] - units, shape[1])] += 1  # kernel [in, 4H]
            shapes[(units, shape[1])] += 1  # recurrent_kernel [H, 4H]
        else:
            shapes[shape] += 1
    return shapes


@pytest.fixture
def no_leftover_variables():
    """Full-size models are built in a StatelessScope that does not initialise
    their variables on exit; forget them afterwards so that no later scope
    exit allocates them (Keras keeps a global list of deferred variables)."""
    from keras.src.backend.common import global_state

    yield
    global_state.set_global_attribute("uninitialized_variables", [])


@pytest.mark.fixtures
@pytest.mark.parametrize("name", PRESETS)
def test_full_size_weights_match_magenta(name, no_leftover_variables):
    magenta_name = _metadata(name)["source_configuration"]
    path = magenta_fixtures() / "shapes" / f"{magenta_name}.json"
    fixture = json.loads(path.read_text())
    with keras.StatelessScope(initialize_variables=False):
        model = MusicVAE.from_preset(name, load_weights=False)
    assert all(w._value is None for w in model.trainable_weights)  # nothing allocated
    ours = collections.Counter(tuple(int(d) for d in w.shape) for w in model.trainable_weights)
    total = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert total == fixture["total_trainable_params"]
    assert ours == _magenta_shapes(fixture)
    assert total == _metadata(name)["parameter_count"]


# --------------------------------------------- a training step per preset
TINY = dict(z_size=8, nade_num_hidden=8, batch_size=2)


def _tiny_preset(name):
    config = load_preset_config(name)
    overrides = dict(
        TINY,
        enc_rnn_size=[16] * len(config["enc_rnn_size"]),
        dec_rnn_size=[16] * len(config["dec_rnn_size"]),
    )
    return MusicVAE.from_preset(name, load_weights=False, **overrides)


def _one_hot(rng, shape, depth):
    return np.eye(depth, dtype="float32")[rng.integers(0, depth, size=shape)]


def _random_batch(model, rng, batch=2):
    hierarchical = bool(model.encoder_level_lengths or model.decoder_level_lengths)
    steps = model.max_seq_len if hierarchical else 8
    inputs = (rng.random((batch, steps, model.input_depth)) < 0.2).astype("float32")
    if model.output_head == "groove":
        n = model.output_depth // 3
        hits = (rng.random((batch, steps, n)) < 0.3).astype("float32")
        targets = np.concatenate(
            [hits, hits * rng.random((batch, steps, n)), hits * rng.uniform(-1, 1, (batch, steps, n))],
            axis=-1,
        ).astype("float32")
    elif model.output_head == "nade":
        targets = (rng.random((batch, steps, model.output_depth)) < 0.2).astype("float32")
    else:
        depths = model.output_depths or [model.output_depth]
        targets = np.concatenate([_one_hot(rng, (batch, steps), d) for d in depths], axis=-1)
    if model.encoder_level_lengths and model.converter_config["class_name"].startswith("MultiInstrument"):
        segments = model.max_seq_len // model.encoder_level_lengths[0]
        lengths = rng.integers(1, model.encoder_level_lengths[0] + 1, size=(batch, segments))
    else:
        lengths = np.full((batch,), steps)
    data = {"inputs": inputs, "targets": targets, "lengths": lengths.astype("int32")}
    if model.control_depth:
        data["controls"] = _one_hot(rng, (batch, steps), model.control_depth)
    return data


# TensorFlow (eagerly) and PyTorch run a training step of every preset by
# default. On JAX every training step is compiled first (10 s or more per
# preset on 2 cores), so there they are marked slow; the JAX run trains flat
# and hierarchical models in tests/models/test_music_vae.py and covers each
# output head in tests/layers.
def _training_params():
    slow_here = keras.backend.backend() == "jax"
    return [pytest.param(name, marks=[pytest.mark.slow] if slow_here else []) for name in PRESETS]


# The conductor reads constant zero inputs: its first kernel gets a zero
# gradient, in Magenta too.
ZERO_GRADIENT = {"decoder/conductor/lstm/kernel_0"}


@pytest.mark.parametrize("name", _training_params())
def test_every_preset_trains_one_step_at_tiny_size(name):
    rng = np.random.default_rng(0)
    model = _tiny_preset(name)
    config = load_preset_config(name)
    assert model.z_size == 8 and model.enc_rnn_size == [16] * len(config["enc_rnn_size"])
    assert model.dec_rnn_size == [16] * len(config["dec_rnn_size"])
    batch = _random_batch(model, rng)
    if "multiperf" in name:
        assert batch["lengths"].shape == (2, 8)
    model.compile(run_eagerly=keras.backend.backend() == "tensorflow")
    before = [ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    logs = model.train_on_batch(batch, return_dict=True)
    assert np.isfinite(logs["loss"]) and logs["loss"] > 0, logs
    assert int(ops.convert_to_numpy(model.global_step)) == 1
    unchanged = {
        w.path
        for b, w in zip(before, model.trainable_weights)
        if np.array_equal(b, ops.convert_to_numpy(w))
    }
    assert unchanged <= ZERO_GRADIENT, unchanged


# ------------------------------------------------------- names and aliases
@pytest.mark.parametrize(
    "alias, name",
    [
        ("hierdec-trio_16bar", "hierdec_trio_16bar"),
        ("cat-mel_2bar_small", "cat_mel_2bar_small"),
        ("groovae_2bar_hits_control_tfds", "groovae_2bar_hits_control"),
        ("nade-drums_2bar_full", "nade_drums_2bar_full"),
        ("hier-multiperf_vel_1bar_med_chords", "hier_multiperf_vel_1bar_med_chords"),
    ],
)
def test_magenta_aliases(alias, name):
    assert canonical_preset_name(alias) == name
    assert resolve_preset(alias) == builtin_presets_dir() / name
    config = load_preset_config(alias)
    assert config == load_preset_config(name)


def test_alias_builds_the_model():
    model = MusicVAE.from_preset("groovae_2bar_hits_control_tfds", load_weights=False, **TINY, enc_rnn_size=[8], dec_rnn_size=[8, 8])
    assert model.control_depth == 9 and model.output_head == "groove"


def test_unknown_preset_lists_close_matches():
    with pytest.raises(ValueError) as error:
        resolve_preset("hierdec_mel_16bars")
    message = str(error.value)
    assert "Unknown preset 'hierdec_mel_16bars'" in message
    assert "Did you mean: hierdec_mel_16bar" in message
    with pytest.raises(ValueError, match="Unknown preset 'nothing_like_it'"):
        MusicVAE.from_preset("nothing_like_it")


def test_unknown_override_is_named():
    with pytest.raises(ValueError, match=r"Unknown hyperparameter override\(s\) \['zsize'\]"):
        MusicVAE.from_preset("cat_mel_2bar_small", load_weights=False, zsize=8)


# ------------------------------------------------------- broken folders
def _copy_preset(tmp_path, name="cat_mel_2bar_small"):
    folder = tmp_path / name
    folder.mkdir()
    for f in (builtin_presets_dir() / name).iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    return folder


def _edit_config(folder, edit):
    path = folder / "config.json"
    data = json.loads(path.read_text())
    edit(data["config"])
    path.write_text(json.dumps(data))


def test_bad_json_names_the_file(tmp_path):
    folder = _copy_preset(tmp_path)
    (folder / "config.json").write_text('{"config": {"z_size": 8,,}')
    with pytest.raises(ValueError, match=r"config\.json is not valid JSON"):
        MusicVAE.from_preset(folder)


def test_unknown_field_names_the_file_and_field(tmp_path):
    folder = _copy_preset(tmp_path)
    _edit_config(folder, lambda c: c.update(zsize=3))
    with pytest.raises(ValueError) as error:
        MusicVAE.from_preset(folder)
    assert str(folder / "config.json") in str(error.value) and "zsize" in str(error.value)


def test_invalid_value_names_the_preset_and_problem(tmp_path):
    folder = _copy_preset(tmp_path)
    _edit_config(folder, lambda c: c.update(output_head="softmax"))
    with pytest.raises(ValueError) as error:
        MusicVAE.from_preset(folder)
    assert "config.json" in str(error.value) and "Unknown output_head 'softmax'" in str(error.value)


def test_config_without_config_field(tmp_path):
    folder = _copy_preset(tmp_path)
    (folder / "config.json").write_text('{"class_name": "MusicVAE"}')
    with pytest.raises(ValueError, match="'config' field"):
        MusicVAE.from_preset(folder)


def test_folder_without_config(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="has no config.json"):
        MusicVAE.from_preset(tmp_path / "empty")


# ------------------------------------------------------ save / load round trip
def test_save_to_preset_and_from_preset_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    model = _tiny_preset("cat_mel_2bar_small")
    model.global_step.assign(5)
    for w in model.trainable_weights:
        w.assign(rng.normal(0, 0.3, tuple(w.shape)).astype("float32"))
    folder = model.save_to_preset(tmp_path / "preset", description="A tiny test preset.")
    assert {p.name for p in folder.iterdir()} >= {"config.json", "model.weights.h5", "metadata.json", "README.md"}
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["description"] == "A tiny test preset."
    assert metadata["weights_included"] is True
    assert metadata["parameter_count"] == sum(int(np.prod(w.shape)) for w in model.trainable_weights)

    loaded = MusicVAE.from_preset(folder)
    assert loaded.get_config() == model.get_config()
    assert int(ops.convert_to_numpy(loaded.global_step)) == 5
    batch = _random_batch(model, rng)
    # Jitted on JAX: one compilation instead of one per time loop.
    forward = [compiled(lambda b, m=m: m(b)) for m in (model, loaded)]
    a, b = forward[0](batch), forward[1](batch)
    for key in ("mu", "sigma", "logits"):
        np.testing.assert_array_equal(ops.convert_to_numpy(a[key]), ops.convert_to_numpy(b[key]))
    # The converter travels with the preset.
    assert loaded.converter_config == model.converter_config

    with pytest.raises(FileExistsError, match="overwrite=True"):
        model.save_to_preset(folder)
    model.save_to_preset(folder, overwrite=True)
    assert not any(p.name.startswith((".preset-", "preset.old")) for p in tmp_path.iterdir())

    # Overrides cannot be applied to a preset that has weights.
    with pytest.raises(ValueError, match="load_weights=False"):
        MusicVAE.from_preset(folder, z_size=4)
    fresh = MusicVAE.from_preset(folder, load_weights=False, z_size=4)
    assert fresh.z_size == 4


def test_preset_with_mismatched_weights_names_the_file(tmp_path):
    model = _tiny_preset("cat_mel_2bar_small")
    folder = model.save_to_preset(tmp_path / "preset")
    _edit_config(folder, lambda c: c.update(z_size=4))
    with pytest.raises(ValueError, match=r"Cannot load .*model\.weights\.h5"):
        MusicVAE.from_preset(folder)

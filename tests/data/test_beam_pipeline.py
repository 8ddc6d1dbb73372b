"""Tests of the Apache Beam preprocessing pipeline and tools/prepare_corpus.py."""

import glob
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from keras_musicvae.data import beam_pipeline
from keras_musicvae.data import converter_for_preset
from keras_musicvae.data import midi_io

REPO = pathlib.Path(__file__).resolve().parents[2]
BUNDLED = REPO / "keras_musicvae" / "corpus" / "freedoom"
NAMES = ["freedm_D_ADRIAN.mid", "freedm_D_AMPIE.mid", "freedoom1_D_E1M1.mid", "freedoom1_D_E1M2.mid"]


def test_missing_beam_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "apache_beam", None)
    with pytest.raises(ImportError, match=r"pip install keras-musicvae\[beam\]"):
        beam_pipeline.require_beam()


def test_split_rule_matches_the_corpus_readme():
    import hashlib

    for name in ["multi/freedoom/a.mid", "x.mid", "deep/er/path.midi"]:
        expected = int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) % 100 < 10
        assert beam_pipeline.is_eval_file(name, 10) == expected
    assert not beam_pipeline.is_eval_file("x.mid", 0)
    assert beam_pipeline.is_eval_file("x.mid", 100)


def test_example_records_round_trip():
    rng = np.random.default_rng(0)
    inputs = rng.random((32, 90)) < 0.1
    targets = rng.random((32, 27)).astype(np.float32)
    controls = np.zeros((32, 0), bool)
    lengths = np.arange(8, dtype=np.int32)
    decoded = beam_pipeline.decode_example(beam_pipeline.encode_example(inputs, targets, controls, lengths))
    for a, b in zip(decoded, (inputs, targets, controls, lengths)):
        np.testing.assert_array_equal(a, b)
        assert np.asarray(a).dtype == np.asarray(b).dtype
    assert beam_pipeline.decode_example(beam_pipeline.encode_example(inputs, targets, controls, 32))[3] == 32


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    folder = tmp_path_factory.mktemp("collection")
    (folder / "sub").mkdir()
    for name in NAMES:
        shutil.copy(BUNDLED / "train" / name, folder / name)
    shutil.copy(BUNDLED / "train" / NAMES[0], folder / "sub" / "same_music.MID")  # a duplicate
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")  # truncated
    (folder / "notes.mid").write_text("not midi")
    return folder


def test_pipeline_on_direct_runner(collection, tmp_path):
    pytest.importorskip("apache_beam")
    from keras_musicvae.data import pipeline

    converter = converter_for_preset("cat_mel_2bar_small", mode="eval")
    files = beam_pipeline.list_input_files(str(collection))
    _, counters = beam_pipeline.run(
        files, str(tmp_path), root=str(collection), eval_percent=30, num_shards=2, converter=converter,
    )
    assert counters["files read"] == 5
    assert counters["files failed: truncated MIDI file"] == 1
    assert counters["files failed: not a MIDI file"] == 1
    assert counters["duplicates dropped"] == 1
    train = list(pipeline.read_note_sequences(str(tmp_path / "train-*.tfrecord")))
    evaluation = list(pipeline.read_note_sequences(str(tmp_path / "eval-*.tfrecord")))
    assert len(glob.glob(str(tmp_path / "train-*-of-00002.tfrecord"))) == 2
    names = sorted(ns.filename for ns in train + evaluation)
    assert names == sorted(NAMES)  # the duplicate in sub/ was dropped, the original kept
    assert counters["note sequences written: train"] == len(train)
    assert counters.get("note sequences written: eval", 0) == len(evaluation)
    for ns in evaluation:
        assert beam_pipeline.is_eval_file(ns.filename, 30)
    for ns in train:
        assert not beam_pipeline.is_eval_file(ns.filename, 30)
        assert ns == midi_io.read_midi(collection / ns.filename, root=collection)
    failures = (tmp_path / "failures.tsv").read_text().splitlines()
    assert failures[0] == "path\treason\tdetail" and len(failures) == 3
    # The per-example records hold exactly the converter's examples.
    examples = beam_pipeline.read_example_tfrecords(str(tmp_path / "train_examples-*.tfrecord"))
    expected = [x for ns in train for x in converter.to_tensors(ns).outputs]
    assert counters["examples written: train"] == len(examples) == len(expected)
    key = lambda a: a.tobytes()  # noqa: E731 - record order is the runner's
    assert sorted(map(key, examples.outputs)) == sorted(map(key, expected))
    # And they feed make_dataset directly.
    dataset = pipeline.make_dataset(str(tmp_path / "train-*.tfrecord"), converter, 2, mode="eval",
                                    num_workers=0, progress=False)
    assert sum(len(b["inputs"]) for b in dataset) == len(expected)


def test_prepare_corpus_tool(collection, tmp_path):
    pytest.importorskip("apache_beam")
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "prepare_corpus.py"), f"--input={collection}",
         f"--output={out}", "--eval_percent=0", "--nodedupe"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "files read" in proc.stdout
    import json

    counters = json.loads((out / "counters.json").read_text())
    assert counters["note sequences written: train"] == 5  # no dedupe, no eval
    assert "duplicates dropped" not in counters


# -- tools/build_corpus.py (no network in tests: --help and --dry-run only) -------


def run_tool(*args):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, str(REPO / "tools" / "build_corpus.py"), *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_build_corpus_help():
    proc = run_tool("--help")
    assert proc.returncode == 0
    for flag in ("--output", "--sources", "dry_run", "--eval_percent"):
        assert flag in proc.stdout


def test_build_corpus_dry_run_lists_what_it_would_fetch(tmp_path):
    proc = run_tool("--dry-run", f"--output={tmp_path / 'out'}")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "apt-get download freedink-data freedm freedoom hydrogen-data mma openttd-openmsx simutrans-data" in out
    assert "pip install --target" in out and "music21" in out
    for source in ("freedoom", "oneills1850", "bach_chorales", "mma_grooves", "hydrogen"):
        assert f"corpus/" in out and f" {source} " in out
    assert "redistributable" in out  # Freedoom's licence allows shipping it
    assert not (tmp_path / "out").exists()  # nothing fetched or written
    one = run_tool("--dry_run", "--sources=freedoom")
    assert "apt-get download freedm freedoom" in one.stdout and "music21" not in one.stdout
    bad = run_tool("--dry_run", "--sources=nonsense")
    assert bad.returncode != 0 and "Unknown source" in bad.stderr


@pytest.fixture(scope="module")
def build_corpus():
    import importlib.util

    if "build_corpus_tool" not in sys.modules:  # its absl flags may be defined once only
        spec = importlib.util.spec_from_file_location("build_corpus_tool", REPO / "tools" / "build_corpus.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules["build_corpus_tool"] = module
    return sys.modules["build_corpus_tool"]


def test_build_corpus_split_rule_matches_the_shared_corpus(build_corpus):
    import json

    manifest = REPO.parent / "shared" / "data" / "corpus" / "manifest.json"
    if not manifest.exists():
        pytest.skip(f"shared corpus manifest not found at {manifest}")
    files = json.loads(manifest.read_text())["files"]
    for entry in files[::20]:
        name = os.path.basename(entry["path"])
        assert build_corpus.is_eval(entry["source"], name, 10) == (entry["split"] == "eval"), entry["path"]


def test_wad_lumps(tmp_path, build_corpus):
    import struct

    midi = (BUNDLED / "train" / NAMES[0]).read_bytes()
    lumps = [(b"D_RUNNIN", midi), (b"D_OTHER", b"MUS\x1a...."), (b"MAP01", b"MThd fake")]
    data = bytearray(b"IWAD" + struct.pack("<ii", len(lumps), 0))
    directory = []
    for name, payload in lumps:
        directory.append(struct.pack("<ii8s", len(data), len(payload), name))
        data += payload
    struct.pack_into("<i", data, 8, len(data))
    data += b"".join(directory)
    (tmp_path / "x.wad").write_bytes(bytes(data))
    assert list(build_corpus.wad_midi_lumps(str(tmp_path / "x.wad"))) == [("D_RUNNIN", midi)]

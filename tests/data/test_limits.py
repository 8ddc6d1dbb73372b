"""What one file may cost: musical-length limits, invalid values, worker budgets."""

import json
import math
import os
import shutil
import struct
import subprocess
import sys
import time

import mido
import numpy as np
import pytest
from note_seq.protobuf import music_pb2

from keras_musicvae.data import budget
from keras_musicvae.data import converter_for_preset
from keras_musicvae.data import midi_io
from keras_musicvae.data import pipeline
from keras_musicvae.data import sequence_checks
from keras_musicvae.data.midi_mutations import vlq
from keras_musicvae.data.melody import MelodyConverter

# One converter per family (chords: melody and multi-instrument with chords).
FAMILY_PRESETS = (
    "cat_mel_2bar_small",
    "cat_mel_2bar_med_chords",
    "cat_drums_2bar_small",
    "nade_drums_2bar_full",
    "hierdec_trio_16bar",
    "groovae_2bar_humanize",
    "hier_multiperf_vel_1bar_med",
    "hier_multiperf_vel_1bar_med_chords",
)
NO_LENGTH_LIMIT = midi_io.MidiSanityLimits(max_quarter_notes=None, max_seconds=None)


def long_note_midi():
    """The fuzz campaign's 52-byte file: division 1, one note of 99M ticks."""
    track = (
        b"\x00\xff\x51\x03\x07\xa1\x20"  # 120 quarter notes per minute
        + b"\x00\xff\x58\x04\x04\x02\x18\x08"  # 4/4
        + b"\x00\x90\x3c\x40"
        + vlq(99_000_000)
        + b"\x80\x3c\x40"
        + b"\x00\xff\x2f\x00"
    )
    header = b"MThd" + struct.pack(">LHHH", 6, 0, 1, 1)
    return header + b"MTrk" + struct.pack(">L", len(track)) + track


def band_sequence(bars=20, qpm=120.0):
    """Melody (program 0), bass (program 33) and drums, one note per beat."""
    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(time=0.0, qpm=qpm)
    ns.time_signatures.add(time=0.0, numerator=4, denominator=4)
    beat = 60.0 / qpm
    for i in range(bars * 4):
        start, end = i * beat, (i + 0.9) * beat
        ns.notes.add(pitch=60 + (i * 7) % 12, velocity=80, start_time=start, end_time=end,
                     instrument=0, program=0)
        ns.notes.add(pitch=36 + (i * 5) % 12, velocity=80, start_time=start, end_time=end,
                     instrument=1, program=33)
        ns.notes.add(pitch=(36, 42, 38, 42)[i % 4], velocity=80, start_time=start,
                     end_time=start + 0.1, instrument=9, is_drum=True)
    ns.total_time = bars * 4 * beat
    return ns


# -- A. musical length ---------------------------------------------------------


def test_the_52_byte_file_is_too_long_for_the_reader(tmp_path):
    path = tmp_path / "long_note.mid"
    path.write_bytes(long_note_midi())
    assert path.stat().st_size == 52
    start = time.perf_counter()
    with pytest.raises(midi_io.MidiReadError) as error:
        midi_io.read_midi_with_info(path)
    assert time.perf_counter() - start < 1.0
    assert error.value.reason == midi_io.REASON_TOO_LONG == "too long"
    assert "49,500,000 s" in str(error.value)


_BOUNDED_SCRIPT = r"""
import json, resource, sys, time
from keras_musicvae.data import budget, converter_for_preset, midi_io, pipeline
path, presets = sys.argv[1], sys.argv[2].split(",")
converters = [converter_for_preset(p, mode="eval") for p in presets]
unlimited = midi_io.MidiSanityLimits(max_quarter_notes=None, max_seconds=None)
sequence = midi_io.read_midi(path, limits=unlimited)  # the reader's own limit is off
# Everything below must fit in 256 MiB more than what the imports took.
size = budget._address_space_size()
resource.setrlimit(resource.RLIMIT_AS, (size + 256 * 2**20, resource.RLIM_INFINITY))
budget.peak_rss_reset()
before = budget.peak_rss_bytes()
start = time.process_time()
reasons = {}
try:
    midi_io.read_midi(path)
except midi_io.MidiReadError as e:
    reasons["reader"] = e.reason
for preset, converter in zip(presets, converters):
    tensors, report = converter.to_tensors_with_report(sequence)
    reasons[preset] = sorted(report.reasons)
_, stats = pipeline.convert_midi_files([path], converters[0], num_workers=0, progress=False)
reasons["pipeline"] = dict(stats.files_failed)
print(json.dumps({"reasons": reasons, "cpu": time.process_time() - start,
                  "growth": budget.peak_rss_bytes() - before}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")
def test_the_52_byte_file_is_refused_everywhere_quickly_in_bounded_memory(tmp_path):
    path = tmp_path / "long_note.mid"
    path.write_bytes(long_note_midi())
    result = subprocess.run(
        [sys.executable, "-c", _BOUNDED_SCRIPT, str(path), ",".join(FAMILY_PRESETS)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    reasons = figures["reasons"]
    assert reasons["reader"] == "too long"
    assert reasons["pipeline"] == {"too long": 1}
    for preset in FAMILY_PRESETS:
        assert reasons[preset] == ["too long (more than 10,000 quarter notes or 10,800 s)"], preset
    assert figures["cpu"] < 5.0
    assert figures["growth"] < 128 * 2**20


_FALLBACK_SCRIPT = r"""
import resource, sys
from keras_musicvae.data import budget, midi_io
size = budget._address_space_size()
resource.setrlimit(resource.RLIMIT_AS, (size + 256 * 2**20, resource.RLIM_INFINITY))
for limits in (None, midi_io.MidiSanityLimits(max_quarter_notes=None, max_seconds=None)):
    try:
        midi_io.read_midi_with_info(sys.argv[1], limits=limits)
    except midi_io.MidiReadError as e:
        print(e.reason)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")
def test_note_seq_fallback_reader_is_bounded_too(tmp_path):
    # A real-time byte sends the file to note-seq's reader, which would
    # allocate about 24 bytes per tick (2.3 GB here).
    track = b"\x00\xf8\x00\x90\x3c\x40" + vlq(99_000_000) + b"\x80\x3c\x40\x00\xff\x2f\x00"
    path = tmp_path / "fallback.mid"
    path.write_bytes(
        b"MThd" + struct.pack(">LHHH", 6, 0, 1, 96) + b"MTrk" + struct.pack(">L", len(track)) + track
    )
    result = subprocess.run([sys.executable, "-c", _FALLBACK_SCRIPT, str(path)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == ["too long", "huge file"]


def test_length_limits_are_measured_in_quarter_notes_and_seconds():
    ns = band_sequence(bars=2)  # 8 quarter notes, 4 s at 120 qpm
    assert sequence_checks.end_time(ns) == pytest.approx(4.0)
    assert sequence_checks.quarter_notes(ns, 4.0) == pytest.approx(8.0)
    assert sequence_checks.sequence_problem(ns, max_seconds=4.0, max_quarter_notes=8) is None
    reason, detail = sequence_checks.sequence_problem(ns, max_seconds=3.9, max_quarter_notes=8)
    assert reason == "too long" and "limit of 4 s" in detail
    reason, detail = sequence_checks.sequence_problem(ns, max_seconds=None, max_quarter_notes=7)
    assert reason == "too long" and "8 quarter notes" in detail
    ns.tempos.add(time=2.0, qpm=60.0)  # 4 quarters, then 2 s at 60 qpm: 2 more
    assert sequence_checks.quarter_notes(ns, 4.0) == pytest.approx(6.0)
    ns.control_changes.add(time=5000.0, control_number=7, control_value=100)
    assert sequence_checks.end_time(ns) == 5000.0  # every event counts


def test_longest_real_files_are_within_the_limits(bundled_corpus_dir):
    # The longest files of the development corpus (../shared/data) last 572 s
    # and 1,143 quarter notes; the bundled ones are shorter.
    longest = (0.0, 0.0)
    for path in sorted(bundled_corpus_dir.rglob("*.mid")):
        ns = midi_io.read_midi(path)  # default limits: must not refuse
        seconds = sequence_checks.end_time(ns)
        longest = max(longest, (seconds, sequence_checks.quarter_notes(ns, seconds)))
    assert longest[0] < midi_io.DEFAULT_LIMITS.max_seconds / 10
    assert longest[1] < midi_io.DEFAULT_LIMITS.max_quarter_notes / 10


def test_converters_refuse_a_too_long_sequence_unless_told_otherwise():
    ns = band_sequence(bars=20)
    ns.notes.add(pitch=60, velocity=80, start_time=0.0, end_time=1e6, instrument=0, program=0)
    ns.total_time = 1e6
    converter = converter_for_preset("cat_mel_2bar_small", mode="eval")
    tensors, report = converter.to_tensors_with_report(ns)
    assert not len(tensors)
    assert report.summary() == "no examples: too long (more than 10,000 quarter notes or 10,800 s)"
    short = midi_io.MidiSanityLimits(max_quarter_notes=40, max_seconds=None)
    _, report = converter.to_tensors_with_report(band_sequence(bars=20), limits=short)
    assert report.summary() == "no examples: too long (more than 40 quarter notes)"
    assert len(converter.to_tensors(band_sequence(bars=20), limits=NO_LENGTH_LIMIT))


# -- B. NaN, infinite and zero tempos and times ------------------------------------


def _set_qpm(value):
    def change(ns):
        ns.tempos[0].qpm = value
    return change


def _set_note_time(field, value):
    def change(ns):
        setattr(ns.notes[5], field, value)
    return change


def _set_total_time(value):
    def change(ns):
        ns.total_time = value
    return change


INVALID = {
    "qpm nan": (_set_qpm(math.nan), "invalid tempo"),
    "qpm inf": (_set_qpm(math.inf), "invalid tempo"),
    "qpm -inf": (_set_qpm(-math.inf), "invalid tempo"),
    "qpm 0": (_set_qpm(0.0), "invalid tempo"),
    "start nan": (_set_note_time("start_time", math.nan), "invalid times"),
    "start -inf": (_set_note_time("start_time", -math.inf), "invalid times"),
    "end nan": (_set_note_time("end_time", math.nan), "invalid times"),
    "end inf": (_set_note_time("end_time", math.inf), "invalid times"),
    "end -inf": (_set_note_time("end_time", -math.inf), "invalid times"),
    "total nan": (_set_total_time(math.nan), "invalid times"),
    "total inf": (_set_total_time(math.inf), "invalid times"),
}


@pytest.fixture(scope="module")
def family_converters():
    return {preset: converter_for_preset(preset, mode="eval") for preset in FAMILY_PRESETS}


def test_the_band_sequence_gives_examples(family_converters):
    ns = band_sequence()
    for preset in ("cat_mel_2bar_small", "cat_drums_2bar_small", "hierdec_trio_16bar",
                   "groovae_2bar_humanize", "hier_multiperf_vel_1bar_med"):
        assert len(family_converters[preset].to_tensors(ns)), preset


@pytest.mark.parametrize("case", sorted(INVALID))
def test_converters_refuse_invalid_values_cleanly(family_converters, case):
    change, reason = INVALID[case]
    for preset, converter in family_converters.items():
        ns = band_sequence()
        change(ns)
        tensors, report = converter.to_tensors_with_report(ns)  # no exception
        assert not len(tensors), (preset, case)
        assert [r.split(" (")[0] for r in report.reasons] == [reason], (preset, case, report.reasons)


def test_negative_finite_times_are_left_to_the_converters(family_converters):
    ns = band_sequence()
    ns.notes[5].start_time = -1.0
    assert sequence_checks.sequence_problem(ns) is None
    for preset, converter in family_converters.items():
        converter.to_tensors_with_report(ns)  # no exception


def test_reader_checks_refuse_invalid_note_sequences():
    ns = band_sequence()
    ns.notes[3].end_time = math.nan
    with pytest.raises(midi_io.MidiReadError) as error:
        midi_io.check_note_sequence(ns)
    assert error.value.reason == midi_io.REASON_INVALID_TIMES
    ns = band_sequence()
    ns.tempos[0].qpm = math.inf
    with pytest.raises(midi_io.MidiReadError) as error:
        midi_io.check_note_sequence(ns)
    assert error.value.reason == midi_io.REASON_ABSURD_TEMPO


def test_pipeline_counts_invalid_note_sequences():
    good = band_sequence()
    nan_tempo = band_sequence()
    nan_tempo.tempos[0].qpm = math.nan
    inf_time = band_sequence()
    inf_time.notes[0].end_time = math.inf
    converter = converter_for_preset("cat_mel_2bar_small", mode="eval")
    for workers in (0, 2):
        tensors, stats = pipeline.convert_midi_files(
            [good, nan_tempo, inf_time], converter, num_workers=workers, progress=False
        )
        assert stats.files_read == 1 and len(tensors)
        assert stats.files_failed == {"absurd tempo": 1, "invalid times": 1}


# -- Worker budgets ----------------------------------------------------------------


class MisbehavingConverter(MelodyConverter):
    """Dies, hogs memory or spins, depending on the file's name."""

    def _convert_sequence(self, note_sequence, report):
        name = os.path.basename(note_sequence.filename)
        if name.startswith("die"):
            os._exit(3)
        if name.startswith("hog"):
            hoard = [np.empty(2**30, np.uint8) for _ in range(64)]  # 64 GiB of address space
            del hoard
        if name.startswith("spin"):
            while True:
                pass
        return super()._convert_sequence(note_sequence, report)


def _write_song(path):
    midi = mido.MidiFile(ticks_per_beat=96)
    track = mido.MidiTrack([mido.Message("program_change", program=0)])
    for i in range(16):
        track.append(mido.Message("note_on", note=60 + i % 7, velocity=80, time=0))
        track.append(mido.Message("note_off", note=60 + i % 7, velocity=0, time=96))
    midi.tracks.append(track)
    midi.save(str(path))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="budgets need Linux")
def test_pool_workers_have_a_time_and_memory_budget_and_may_die(tmp_path):
    names = [f"ok_{i:02d}.mid" for i in range(17)] + ["die.mid", "hog.mid", "spin.mid"]
    for name in names:
        _write_song(tmp_path / name)
    shutil.copy(tmp_path / "ok_00.mid", tmp_path / "zz_copy.mid")
    (tmp_path / "long_note.mid").write_bytes(long_note_midi())
    limits = midi_io.MidiSanityLimits(file_cpu_seconds=2.0, file_memory_bytes=512 * 2**20)
    start = time.perf_counter()
    tensors, stats = pipeline.convert_midi_files(
        tmp_path, MisbehavingConverter(slice_bars=2), num_workers=2, progress=False, limits=limits
    )
    assert stats.files == 22
    assert stats.files_failed == {
        budget.REASON_WORKER_DIED: 1,
        budget.REASON_OUT_OF_MEMORY: 1,
        budget.REASON_TIMED_OUT: 1,
        midi_io.REASON_TOO_LONG: 1,
    }
    assert stats.failed_examples[budget.REASON_WORKER_DIED] == [str(tmp_path / "die.mid")]
    assert stats.failed_examples[budget.REASON_OUT_OF_MEMORY] == [str(tmp_path / "hog.mid")]
    assert stats.failed_examples[budget.REASON_TIMED_OUT] == [str(tmp_path / "spin.mid")]
    assert stats.files_read == 18 and stats.examples == len(tensors) > 0
    assert time.perf_counter() - start < 120


_BUDGET_SCRIPT = r"""
import resource
import numpy as np
from keras_musicvae.data import budget
before = resource.getrlimit(resource.RLIMIT_AS)
try:
    with budget.file_budget(cpu_seconds=0.2):
        while True:
            pass
except budget.FileTimedOut:
    print("timed out")
try:
    with budget.file_budget(memory_bytes=64 * 2**20):
        np.empty(2**30, np.uint8)
except MemoryError:
    print("out of memory")
assert resource.getrlimit(resource.RLIMIT_AS) == before
with budget.file_budget(cpu_seconds=5, memory_bytes=2**30):
    assert np.ones(2**20).sum() == 2**20
print("restored")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="budgets need Linux")
def test_file_budget_times_out_and_limits_memory_then_restores():
    # In a subprocess: an address-space limit in the test process would hit
    # the threads of whatever else it runs.
    result = subprocess.run([sys.executable, "-c", _BUDGET_SCRIPT], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["timed", "out", "out", "of", "memory", "restored"]

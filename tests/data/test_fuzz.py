"""Standing fuzz suite: mutated MIDI files never crash, hang or blow up memory.

A few hundred seeded mutations of the bundled corpus go through the reader,
one converter per family and the pipeline (`keras_musicvae.data.fuzz`; a
bigger run: `tools/fuzz_midi.py`). To keep the fast suite fast the files are
read with lower length limits than the defaults and the (slower) chord
converters run only in the slow test.
"""

import collections
import os
import shutil

import pytest

from keras_musicvae.data import budget
from keras_musicvae.data import converter_for_preset
from keras_musicvae.data import fuzz
from keras_musicvae.data import midi_io
from keras_musicvae.data import pipeline
from keras_musicvae.data.melody import MelodyConverter

SEED = 2024
COUNT = 240
FAST_PRESETS = (
    "cat_mel_2bar_small",
    "cat_drums_2bar_small",
    "hierdec_trio_16bar",
    "groovae_2bar_humanize",
    "hier_multiperf_vel_1bar_med",
)
# Lower than the defaults (10,000 quarter notes, 250,000 notes), still far
# above the bundled corpus: bounds the cost of each file in this test.
FAST_LIMITS = midi_io.MidiSanityLimits(max_quarter_notes=2_000, max_notes=20_000)
FILE_BUDGET = fuzz.CampaignBudget(cpu_seconds=20.0, memory_bytes=512 * 2**20)
KNOWN_READ_REASONS = {
    midi_io.REASON_UNREADABLE, midi_io.REASON_EMPTY, midi_io.REASON_NOT_MIDI,
    midi_io.REASON_TRUNCATED, midi_io.REASON_CORRUPT, midi_io.REASON_ABSURD_TEMPO,
    midi_io.REASON_HUGE, midi_io.REASON_NO_NOTES, midi_io.REASON_TOO_LONG,
    midi_io.REASON_INVALID_TIMES,
}


@pytest.fixture(scope="module")
def fuzz_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    fuzz.write_files(folder, fuzz.generate(COUNT, seed=SEED))
    return folder


@pytest.fixture(scope="module")
def outcomes(fuzz_folder):
    converters = {p: converter_for_preset(p, mode="eval") for p in FAST_PRESETS}
    paths = sorted(str(p) for p in fuzz_folder.iterdir())
    return fuzz.run_campaign(paths, converters, num_workers=2, file_budget=FILE_BUDGET,
                             limits=FAST_LIMITS)


def test_no_crash_hang_or_memory_blow_up(outcomes):
    summary = fuzz.summarize(outcomes)
    assert summary.files == COUNT
    assert not summary.findings, "\n".join(summary.lines())
    # The converters were exercised, not just the reader.
    assert summary.read >= COUNT // 5, "\n".join(summary.lines())
    assert all(summary.converted.values()), summary.converted
    assert set(summary.refused) <= KNOWN_READ_REASONS
    assert summary.max_cpu_seconds < FILE_BUDGET.cpu_seconds
    assert summary.max_rss_growth_bytes < 256 * 2**20, "\n".join(summary.lines())
    for outcome in outcomes:  # every file either refused with a reason or converted by all
        assert bool(outcome.read_reason) != (set(outcome.examples) == set(FAST_PRESETS)), outcome


def test_pipeline_counters_add_up(fuzz_folder, outcomes):
    converter = converter_for_preset("cat_drums_2bar_small", mode="eval")
    _, stats = pipeline.make_dataset(
        fuzz_folder, converter, 4, mode="eval", num_workers=2, limits=FAST_LIMITS,
        progress=False, return_stats=True,
    )
    assert stats.files == COUNT
    assert stats.files_read + stats.num_failed == COUNT
    with_examples = stats.files_read - stats.files_without_examples
    assert with_examples == sum(1 for o in outcomes if o.examples.get("cat_drums_2bar_small"))
    refused = collections.Counter(o.read_reason for o in outcomes if o.read_reason)
    assert stats.files_failed == refused  # the same reasons, file for file
    assert sum(stats.no_example_reasons.values()) >= stats.files_without_examples


class MisbehavingConverter(MelodyConverter):
    """Kills its process or spins, depending on the file's name."""

    def _convert_sequence(self, note_sequence, report):
        name = os.path.basename(note_sequence.filename)
        if name.startswith("die"):
            os._exit(3)
        while name.startswith("spin"):
            pass
        return super()._convert_sequence(note_sequence, report)


def test_campaign_reports_dead_workers_and_hangs_per_file(tmp_path, bundled_corpus_dir):
    song = sorted(bundled_corpus_dir.rglob("*.mid"))[0]
    names = ["a_ok.mid", "die.mid", "spin.mid", "z_ok.mid"]
    for name in names:
        shutil.copy(song, tmp_path / name)
    paths = [str(tmp_path / name) for name in names]
    outcomes = fuzz.run_campaign(paths, {"chaos": MisbehavingConverter()}, num_workers=2,
                                 file_budget=fuzz.CampaignBudget(cpu_seconds=1.0))
    assert [o.finding for o in outcomes] == [None, fuzz.WORKER_DIED, fuzz.HANG, None]
    assert outcomes[0].examples == outcomes[3].examples == {"chaos": outcomes[0].examples["chaos"]}
    assert fuzz.summarize(outcomes).findings == {fuzz.WORKER_DIED: 1, fuzz.HANG: 1}


@pytest.mark.slow
def test_every_converter_family_at_default_limits(tmp_path):
    paths = fuzz.write_files(tmp_path, fuzz.generate(300, seed=SEED + 1))
    outcomes = fuzz.run_campaign(paths, num_workers=2, file_budget=fuzz.CampaignBudget())
    summary = fuzz.summarize(outcomes)
    assert not summary.findings, "\n".join(summary.lines())
    assert summary.max_rss_growth_bytes < 512 * 2**20, "\n".join(summary.lines())
    _, stats = pipeline.convert_midi_files(
        paths, converter_for_preset("cat_mel_2bar_med_chords", mode="eval"), num_workers=2,
        progress=False,
    )
    assert stats.files_read + stats.num_failed == stats.files == len(paths)
    assert not set(stats.files_failed) & {
        budget.REASON_TIMED_OUT, budget.REASON_OUT_OF_MEMORY, budget.REASON_WORKER_DIED
    }

"""A fuzzing campaign runner for the data pipeline.

The files come from `midi_mutations.generate` (re-exported here with
`write_files`, `seed_files`, `MUTATIONS` and `FuzzFile`): broken and odd
variants of real MIDI files, the same ones for the same seed.

`run_campaign` reads each file (`midi_io.read_midi_with_info`) and converts it
with several converters, one file at a time in worker processes under a
CPU-time and memory budget, and records what happened: refused (and why),
converted, or a finding (an exception escaping, a file over its time or
memory budget, a worker process dying). `summarize` turns the outcomes into
the figures `tools/fuzz_midi.py` prints; `tests/data/test_fuzz.py` runs a few
hundred files on every test run.

Pure Python / NumPy / note-seq (and mido, note-seq's MIDI library): no
TensorFlow.
"""

import collections
import concurrent.futures
import concurrent.futures.process
import dataclasses
import os
import time
import traceback

from keras_musicvae.data import budget
from keras_musicvae.data import midi_io
from keras_musicvae.data.midi_mutations import MUTATIONS
from keras_musicvae.data.midi_mutations import FuzzFile
from keras_musicvae.data.midi_mutations import generate
from keras_musicvae.data.midi_mutations import seed_files
from keras_musicvae.data.midi_mutations import write_files

__all__ = [
    # The files (made in midi_mutations.py).
    "MUTATIONS",
    "FuzzFile",
    "generate",
    "seed_files",
    "write_files",
    # The campaign.
    "DEFAULT_PRESETS",
    "FINDINGS",
    "CRASH",
    "HANG",
    "OUT_OF_MEMORY",
    "WORKER_DIED",
    "FileOutcome",
    "CampaignBudget",
    "CampaignSummary",
    "check_file",
    "default_converters",
    "run_campaign",
    "summarize",
]

# Converters a campaign runs by default: one preset per converter family.
DEFAULT_PRESETS = (
    "cat_mel_2bar_small",
    "cat_mel_2bar_med_chords",
    "cat_drums_2bar_small",
    "hierdec_trio_16bar",
    "groovae_2bar_humanize",
    "hier_multiperf_vel_1bar_med_chords",
)

# Outcomes that are findings (anything else is a file refused or converted).
CRASH = "crash"
HANG = "hang"
OUT_OF_MEMORY = "out of memory"
WORKER_DIED = "worker died"
FINDINGS = (CRASH, HANG, OUT_OF_MEMORY, WORKER_DIED)
_FINDING_LABELS = {
    CRASH: "crashes",
    HANG: "hangs (over CPU budget)",
    OUT_OF_MEMORY: "over memory budget",
    WORKER_DIED: "worker deaths",
}

_FILES_PER_TASK = 8


# ---------------------------------------------------------------------------
# Campaign
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class FileOutcome:
    """What one file did.

    Attributes:
        path: The file.
        read_reason: None when read, else the `MidiReadError` reason.
        examples: `{preset: examples}` for a file read.
        converter_seconds: `{preset: CPU seconds}` of each conversion.
        finding: None, or one of `FINDINGS`.
        detail: The exception of a finding (type, message, where).
        cpu_seconds: CPU time spent on the file.
        peak_rss_bytes: Peak resident memory of the worker while on the file
            (Linux; otherwise the worker's peak so far).
        rss_growth_bytes: `peak_rss_bytes` minus the memory before the file.
    """

    path: str
    read_reason: str = None
    examples: dict = dataclasses.field(default_factory=dict)
    converter_seconds: dict = dataclasses.field(default_factory=dict)
    finding: str = None
    detail: str = ""
    cpu_seconds: float = 0.0
    peak_rss_bytes: int = 0
    rss_growth_bytes: int = 0


@dataclasses.dataclass(frozen=True)
class CampaignBudget:
    """What one file may cost before it counts as a hang or a memory blow-up."""

    cpu_seconds: float = 20.0
    memory_bytes: int = 1024**3


def check_file(path, converters, file_budget=CampaignBudget(), limits=None):
    """Reads and converts one file; never raises (runs in a worker).

    Args:
        path: A MIDI file.
        converters: `{name: DataConverter}`.
        file_budget: A `CampaignBudget`.
        limits: `midi_io.MidiSanityLimits` for reading and converting
            (default `midi_io.DEFAULT_LIMITS`).

    Returns:
        A `FileOutcome`.
    """
    outcome = FileOutcome(path=str(path))
    budget.peak_rss_reset()
    before = _current_rss()
    start = time.process_time()
    try:
        with budget.file_budget(file_budget.cpu_seconds, file_budget.memory_bytes):
            _read_and_convert(outcome, converters, limits)
    except budget.FileTimedOut as e:
        outcome.finding, outcome.detail = HANG, str(e)
    except MemoryError:
        outcome.finding, outcome.detail = OUT_OF_MEMORY, f"more than {file_budget.memory_bytes:,} bytes"
    except Exception as e:  # noqa: BLE001 - what the campaign looks for
        outcome.finding, outcome.detail = CRASH, _describe(e)
    outcome.cpu_seconds = time.process_time() - start
    outcome.peak_rss_bytes = budget.peak_rss_bytes()
    outcome.rss_growth_bytes = max(0, outcome.peak_rss_bytes - before)
    return outcome


def _read_and_convert(outcome, converters, limits):
    try:
        ns, _ = midi_io.read_midi_with_info(outcome.path, limits=limits)
    except midi_io.MidiReadError as e:
        outcome.read_reason = e.reason
        return
    for name, converter in converters.items():
        start = time.process_time()
        outcome.examples[name] = len(converter.to_tensors(ns, limits=limits))
        outcome.converter_seconds[name] = time.process_time() - start


def _describe(error):
    frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    where = f" at {os.path.basename(frame.filename)}:{frame.lineno}" if frame else ""
    return f"{type(error).__name__}: {midi_io._short(str(error), 160)}{where}"


def _current_rss():
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _check_files(paths, converters, file_budget, limits):
    return [check_file(p, converters, file_budget, limits) for p in paths]


def default_converters(presets=DEFAULT_PRESETS):
    """`{preset: converter}` in "eval" mode (the first examples, capped)."""
    from keras_musicvae.data import converter_for_preset

    return {name: converter_for_preset(name, mode="eval") for name in presets}


def run_campaign(paths, converters=None, num_workers=2, file_budget=CampaignBudget(), limits=None):
    """Checks files in worker processes (`check_file`), results in order.

    A worker that dies (or stops answering for `4 * cpu_seconds + 60` s per
    file) is replaced; the files of its task are checked again one at a
    time, so that only the file responsible is counted as `WORKER_DIED`
    (or `HANG`).

    Args:
        paths: MIDI files.
        converters: `{name: DataConverter}` (default `default_converters()`).
        num_workers: Worker processes (at least 1).
        file_budget: A `CampaignBudget`.
        limits: `midi_io.MidiSanityLimits` (default `DEFAULT_LIMITS`).

    Returns:
        A list of `FileOutcome`, one per path, in order.
    """
    converters = default_converters() if converters is None else converters
    paths = [str(p) for p in paths]
    outcomes = []
    while len(outcomes) < len(paths):
        rest = paths[len(outcomes) :]
        outcomes.extend(_run_until_failure(rest, converters, num_workers, file_budget, limits))
    return outcomes


_POOL_FAILURES = (concurrent.futures.process.BrokenProcessPool, concurrent.futures.TimeoutError)


def _run_until_failure(paths, converters, num_workers, file_budget, limits):
    """Outcomes of `paths`, in order, up to the task whose worker failed."""
    chunks = [paths[i : i + _FILES_PER_TASK] for i in range(0, len(paths), _FILES_PER_TASK)]
    wait = 60.0 + 4.0 * file_budget.cpu_seconds * _FILES_PER_TASK
    pool = _new_pool(num_workers)
    outcomes = []
    try:
        futures = [pool.submit(_check_files, c, converters, file_budget, limits) for c in chunks]
        for chunk, future in zip(chunks, futures):
            try:
                outcomes.extend(future.result(timeout=wait))
            except _POOL_FAILURES:
                _kill(pool)
                outcomes.extend(_check_alone(chunk, converters, file_budget, limits))
                break
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return outcomes


def _new_pool(num_workers):
    from keras_musicvae.data import parallel

    return concurrent.futures.ProcessPoolExecutor(
        max_workers=max(1, num_workers), mp_context=parallel.pool_context()
    )


def _kill(pool):
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def _check_alone(paths, converters, file_budget, limits):
    """Checks files one by one, each in a fresh worker if the last one died."""
    outcomes = []
    pool = _new_pool(1)
    wait = 60.0 + 4.0 * file_budget.cpu_seconds
    for path in paths:
        try:
            future = pool.submit(_check_files, [path], converters, file_budget, limits)
            outcomes.extend(future.result(timeout=wait))
        except _POOL_FAILURES as e:
            _kill(pool)
            pool = _new_pool(1)
            finding = HANG if isinstance(e, TimeoutError) else WORKER_DIED
            outcomes.append(FileOutcome(path=str(path), finding=finding, detail=type(e).__name__))
    pool.shutdown(wait=False, cancel_futures=True)
    return outcomes


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class CampaignSummary:
    """The figures of a campaign (see `summarize`)."""

    files: int
    read: int
    refused: collections.Counter
    converted: dict  # preset -> files giving at least one example
    findings: collections.Counter
    finding_examples: dict  # finding -> up to 5 (path, detail)
    max_cpu_seconds: float
    max_cpu_file: str
    max_rss_growth_bytes: int
    max_rss_growth_file: str
    max_peak_rss_bytes: int

    def lines(self):
        """The summary as printable lines."""
        lines = [
            f"files tried:            {self.files}",
            f"read:                   {self.read}",
            f"refused by the reader:  {sum(self.refused.values())}",
        ]
        lines += [f"  {count:7d}  {reason}" for reason, count in self.refused.most_common()]
        lines.append("files giving examples, per converter:")
        lines += [f"  {count:7d}  {name}" for name, count in self.converted.items()]
        for finding in FINDINGS:
            lines.append(f"{_FINDING_LABELS[finding] + ':':23s} {self.findings.get(finding, 0)}")
            for path, detail in self.finding_examples.get(finding, []):
                lines.append(f"    {os.path.basename(path)}: {detail}")
        lines += [
            f"max CPU time per file:  {self.max_cpu_seconds:.2f} s ({os.path.basename(self.max_cpu_file)})",
            f"max RSS growth per file: {self.max_rss_growth_bytes / 2**20:.0f} MiB "
            f"({os.path.basename(self.max_rss_growth_file)})",
            f"max worker RSS:         {self.max_peak_rss_bytes / 2**20:.0f} MiB",
        ]
        return lines


def summarize(outcomes):
    """Figures of a list of `FileOutcome`s."""
    refused = collections.Counter(o.read_reason for o in outcomes if o.read_reason and not o.finding)
    findings = collections.Counter(o.finding for o in outcomes if o.finding)
    finding_examples = {}
    for o in outcomes:
        if o.finding and len(finding_examples.setdefault(o.finding, [])) < 5:
            finding_examples[o.finding].append((o.path, o.detail))
    converted = collections.Counter()
    for o in outcomes:
        converted.update(name for name, n in o.examples.items() if n)
    names = list(dict.fromkeys(name for o in outcomes for name in o.examples))
    slowest = max(outcomes, key=lambda o: o.cpu_seconds, default=FileOutcome(path=""))
    biggest = max(outcomes, key=lambda o: o.rss_growth_bytes, default=FileOutcome(path=""))
    return CampaignSummary(
        files=len(outcomes),
        read=sum(1 for o in outcomes if not o.read_reason and not o.finding),
        refused=refused,
        converted={name: converted[name] for name in names},
        findings=findings,
        finding_examples=finding_examples,
        max_cpu_seconds=slowest.cpu_seconds,
        max_cpu_file=slowest.path,
        max_rss_growth_bytes=biggest.rss_growth_bytes,
        max_rss_growth_file=biggest.path,
        max_peak_rss_bytes=max((o.peak_rss_bytes for o in outcomes), default=0),
    )

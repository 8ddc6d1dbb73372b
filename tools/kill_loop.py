"""Kills `keras-musicvae train` with SIGKILL at random times and checks every resume.

    python tools/kill_loop.py --kills 100 [--output RUN_DIR] [--seed 0] [--max-delay 3]

Trains a tiny melody model on the bundled corpus with `--checkpoint-every 1`
(a checkpoint after every step, so that kills often land in the middle of
one), and repeats: start the run (a resume after the first round), wait a
random time, SIGKILL it, check the run folder. Checked after every kill:

* the latest checkpoint is whole: its `state.json` step, the optimizer
  iterations recorded in it and those stored in its weights file agree;

and after every resume:

* it resumed from that checkpoint's step ("resuming RUN from step N");
* the temporary files the kill left are gone.

A last run then trains two more steps to the end and checks that no
temporary file is left at all. Prints the figures (kills, resumes,
inconsistencies) and exits 1 if anything was inconsistent.

Kill times, in turn (of every five kills):

* one at a random moment of the start-up (restore, data, compilation);
* two a random delay (up to `--max-delay` s) after the run wrote its second
  new checkpoint (the training and evaluation functions are compiled by
  then), in training;
* two in the middle of writing a checkpoint: a random delay of up to 50 ms
  after its temporary folder appears (writing one takes a few tens of
  milliseconds, a sliver of a step, so random times rarely hit it).
"""

import argparse
import dataclasses
import json
import os
import pathlib
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from keras_musicvae import training  # noqa: E402 - after the sys.path entry
from keras_musicvae.utils import atomic_files  # noqa: E402

CORPUS = REPO / "keras_musicvae" / "corpus" / "freedoom" / "eval"
TINY_HPARAMS = "enc_rnn_size=[16],dec_rnn_size=[16],z_size=4,sampling_schedule=constant,sampling_rate=0"
STEPS = 1_000_000  # never reached: every run is killed (but the last)
STARTUP_TIMEOUT = 300.0
MODES = ("start-up", "training", "writing", "training", "writing")  # the kill times, in turn
_STAGING = re.compile(rf"^\.{training.CHECKPOINT_PREFIX}(\d+){re.escape(atomic_files.TEMP_MARK)}")


def train_command(run_dir, steps=STEPS):
    """The `keras-musicvae train` command line of a tiny run in `run_dir`."""
    return [
        sys.executable, "-m", "keras_musicvae", "train",
        "--preset", "cat_mel_2bar_small", "--hparams", TINY_HPARAMS,
        "--data", str(CORPUS), "--output", str(run_dir),
        "--batch-size", "8", "--no-augment", "--seed", "0", "--workers", "1",
        "--steps", str(steps), "--checkpoint-every", "1",
        "--eval-batches", "1", "--sampled-eval-examples", "0",
    ]  # fmt: skip


def child_env():
    """The environment of the training runs: quiet, TensorFlow unless $KERAS_BACKEND says."""
    env = dict(os.environ)
    env.setdefault("KERAS_BACKEND", "tensorflow")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def checkpoint_problems(run_dir):
    """What is wrong with a run's latest checkpoint (an empty list: nothing).

    Returns:
        `(step or None, problems)`.
    """
    try:
        checkpoint = training.latest_checkpoint(run_dir)
        if checkpoint is None:
            return None, []
        state = json.loads(checkpoint.state.read_text())
        stored = training.weights_file_iterations(checkpoint.weights)
    except (OSError, ValueError) as e:
        return None, [f"unreadable checkpoint: {e}"]
    recorded = state.get("optimizer_iterations")
    if not state["step"] == recorded == stored:
        return state["step"], [
            f"{checkpoint.folder.name}: state step {state['step']}, recorded optimizer iterations "
            f"{recorded}, optimizer iterations in the weights {stored}"
        ]
    return state["step"], []


def resumed_step(log_text):
    """The step a run said it resumed from (0: it started afresh; None: not said yet)."""
    match = re.search(r"^resuming .* from step (\d+)$", log_text, re.MULTILINE)
    if match:
        return int(match.group(1))
    return 0 if re.search(r"^training .*: batch \d+, steps 0 ->", log_text, re.MULTILINE) else None


@dataclasses.dataclass
class Figures:
    """The counts of a kill loop."""

    kills: int = 0
    kills_mid_training: int = 0
    kills_while_writing: int = 0
    resumes: int = 0
    resumes_from_the_checkpoint: int = 0
    inconsistent_checkpoints: int = 0
    stale_files_after_kills: int = 0
    stale_files_not_removed: int = 0
    runs_that_ended_early: int = 0
    final_run_ok: bool = False

    @property
    def inconsistencies(self):
        """Everything that should not happen, counted."""
        resumes_elsewhere = self.resumes - self.resumes_from_the_checkpoint
        failed_final = 0 if self.final_run_ok else 1
        return (self.inconsistent_checkpoints + resumes_elsewhere + self.stale_files_not_removed
                + self.runs_that_ended_early + failed_final)  # fmt: skip

    def lines(self):
        """The figures as lines of text."""
        return [
            f"kills: {self.kills} ({self.kills_mid_training} after the run wrote a new checkpoint, "
            f"{self.kills_while_writing} while a checkpoint was being written)",
            f"runs that started (resumed; the first ones afresh): {self.resumes}, "
            f"from the latest checkpoint's step (0 without one): {self.resumes_from_the_checkpoint}",
            f"inconsistent checkpoints (state vs weights) after a kill: {self.inconsistent_checkpoints}",
            f"stale temporary files after kills: {self.stale_files_after_kills}, "
            f"not removed by the next resume: {self.stale_files_not_removed}",
            f"runs that ended before their kill: {self.runs_that_ended_early}",
            f"final run to the end, clean: {'yes' if self.final_run_ok else 'NO'}",
            f"inconsistencies: {self.inconsistencies}",
        ]


class KillLoop:
    """Runs the rounds of a kill loop in one run folder.

    Args:
        run_dir: the run folder (created).
        rng: a `random.Random` for the kill times.
        max_delay: the longest delay (s) between the first new checkpoint and the kill.
        say: where progress lines go.
    """

    def __init__(self, run_dir, rng, max_delay=3.0, say=print):
        self.run_dir = pathlib.Path(run_dir)
        self.rng = rng
        self.max_delay = max_delay
        self.say = say
        self.figures = Figures()
        self.expected_step = 0  # the latest checkpoint's step: where the next run must resume
        self.stale = []  # temporaries the last kill left
        self.startup_seconds = 20.0  # refined from the runs

    def round(self, index):
        """Starts (resumes) the run, kills it, checks the folder."""
        log_path = self.run_dir.parent / f"{self.run_dir.name}.round-{index:03d}.log"
        started = time.monotonic()
        with open(log_path, "w") as log:
            process = subprocess.Popen(train_command(self.run_dir), env=child_env(), stdout=log,
                                       stderr=subprocess.STDOUT)  # fmt: skip
            try:
                mid_training = self._wait_and_kill(process, log_path, started, MODES[index % len(MODES)])
            finally:
                if process.poll() is None:
                    process.kill()
                process.wait()
        self._check_resume(log_path, mid_training)
        self._check_kill()
        log_path.unlink()

    def _wait_and_kill(self, process, log_path, started, mode):
        """Waits (at random, see `MODES`) and sends SIGKILL. Returns whether a new checkpoint was written first."""
        writing = False
        if mode == "start-up":
            deadline = started + self.rng.uniform(0.0, self.startup_seconds)
            while time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.05)
            mid_training = self._newest_step() not in (None, self.expected_step)
        else:
            mid_training = self._wait_for_new_checkpoints(process, started)
            if mode == "writing":
                writing = self._wait_for_a_checkpoint_write(process)
                time.sleep(self.rng.uniform(0.0, 0.05))
            else:
                time.sleep(self.rng.uniform(0.0, self.max_delay))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            self.figures.kills += 1
            self.figures.kills_mid_training += int(mid_training)
            self.figures.kills_while_writing += int(writing)
        else:
            self.figures.runs_that_ended_early += 1
            self.say(f"  the run ended by itself (exit {process.returncode}); its log: {log_path.read_text()[-2000:]}")
        return mid_training

    def _wait_for_new_checkpoints(self, process, started, count=2):
        """Waits until the run wrote `count` new checkpoints (the first step compiles, the
        first evaluation too). Returns whether it did."""
        while time.monotonic() - started < STARTUP_TIMEOUT and process.poll() is None:
            if (self._newest_step() or 0) >= self.expected_step + count:
                self.startup_seconds = 0.8 * self.startup_seconds + 0.2 * (time.monotonic() - started)
                return True
            time.sleep(0.02)
        return False

    def _wait_for_a_checkpoint_write(self, process, timeout=60.0):
        """Waits until a new checkpoint's temporary folder appears. Returns whether one did.

        (Not that of an old checkpoint being deleted: `.step-N.tmp-...` with N
        above the newest checkpoint's step.)
        """
        folder = training.checkpoints_folder(self.run_dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            newest = self._newest_step() or 0
            with os.scandir(folder) as entries:
                for entry in entries:
                    match = _STAGING.match(entry.name)
                    if match and int(match.group(1)) > newest:
                        return True
            time.sleep(0.001)
        return False

    def _newest_step(self):
        names = [p.name for p in training.checkpoints_folder(self.run_dir).glob(f"{training.CHECKPOINT_PREFIX}*")]
        steps = [int(n[len(training.CHECKPOINT_PREFIX):]) for n in names if n[len(training.CHECKPOINT_PREFIX):].isdigit()]
        return max(steps, default=None)

    def _check_resume(self, log_path, trained):
        """Did the run resume from the latest checkpoint, and remove the earlier kills' temporaries?

        Args:
            log_path: the run's output.
            trained: whether it wrote a checkpoint (it got past removing
                stale files and restoring).
        """
        said = resumed_step(log_path.read_text())
        if said is None:
            return  # killed before it said: it resumed nothing yet
        self.figures.resumes += 1
        if said == self.expected_step:
            self.figures.resumes_from_the_checkpoint += 1
        else:
            self.say(f"  resumed from step {said}, but the latest checkpoint was at step {self.expected_step}")
        if not trained:
            return  # maybe killed before it removed them: the next resume must
        left = [p for p in self.stale if os.path.lexists(p)]
        self.figures.stale_files_not_removed += len(left)
        for path in left:
            self.say(f"  not removed by the resume: {path}")
        self.stale = []

    def _check_kill(self):
        """Is the latest checkpoint whole after the kill? Which temporaries did it leave?"""
        step, problems = checkpoint_problems(self.run_dir)
        self.figures.inconsistent_checkpoints += len(problems)
        for problem in problems:
            self.say(f"  INCONSISTENT: {problem}")
        self.expected_step = step or 0
        self.stale = sorted(set(self.stale) | set(training.stale_files(self.run_dir)))
        self.figures.stale_files_after_kills += len(self.stale)

    def final_run(self):
        """Trains two more steps to the end; checks the resume and that nothing is left over."""
        target = self.expected_step + 2
        result = subprocess.run(train_command(self.run_dir, steps=target), env=child_env(), capture_output=True,
                                text=True, timeout=900)  # fmt: skip
        said = resumed_step(result.stdout)
        self.figures.resumes += int(said is not None)
        self.figures.resumes_from_the_checkpoint += int(said is not None and said == self.expected_step)
        step, problems = checkpoint_problems(self.run_dir)
        leftovers = training.stale_files(self.run_dir) + [p for p in self.stale if os.path.lexists(p)]
        self.figures.final_run_ok = result.returncode == 0 and step == target and not problems and not leftovers
        if not self.figures.final_run_ok:
            self.say(f"  final run: exit {result.returncode}, step {step}, problems {problems}, left {leftovers}")
            self.say(result.stderr[-2000:])


def run_kill_loop(run_dir, kills, seed=0, max_delay=3.0, say=print):
    """Runs `kills` rounds and the final run in `run_dir`. Returns the `Figures`."""
    loop = KillLoop(run_dir, random.Random(seed), max_delay=max_delay, say=say)
    for index in range(kills):
        loop.round(index)
        say(f"round {index + 1}/{kills}: checkpoint at step {loop.expected_step}, "
            f"{len(loop.stale)} temporary file(s) left by the kill")  # fmt: skip
    loop.final_run()
    return loop.figures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=100, help="how many SIGKILLs (default 100)")
    parser.add_argument("--output", default=None, help="the run folder (default: a new temporary folder)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill times")
    parser.add_argument("--max-delay", type=float, default=3.0, help="longest delay (s) before a kill in training")
    args = parser.parse_args(argv)
    if args.output is None:
        run_dir = pathlib.Path(tempfile.mkdtemp(prefix="kill_loop-")) / "run"
    else:
        run_dir = pathlib.Path(args.output)
        if run_dir.exists():
            parser.error(f"{run_dir} exists; the kill loop starts a new run.")
    print(f"run folder: {run_dir}", flush=True)
    start = time.monotonic()
    figures = run_kill_loop(run_dir, args.kills, args.seed, args.max_delay, say=lambda line: print(line, flush=True))
    print(f"\n{' '.join(train_command(run_dir))}\nkilled and resumed in {time.monotonic() - start:.0f} s:")
    for line in figures.lines():
        print(f"  {line}")
    return 1 if figures.inconsistencies else 0


if __name__ == "__main__":
    sys.exit(main())

"""The process pool that runs `worker.convert_task` over many files.

Start method (explicit, see `pool_context`): worker processes are started by
a fork server (`"forkserver"`, POSIX) whose only preloaded module is
`keras_musicvae.data.worker`, so they never inherit TensorFlow / JAX /
PyTorch threads from the training process (forking such a process can
deadlock); where there is no fork server, `"spawn"`. The environment
variable `KERAS_MUSICVAE_START_METHOD` (`fork`, `forkserver` or `spawn`)
overrides it, e.g. `fork` for a script that imports no ML framework and
wants the fastest start.

A fork-server or spawned worker imports the user's main script again before
running a task, which re-runs a script that has no
`if __name__ == "__main__":` guard. Workers only need this when the
converter or augmenter class is defined in that script, so `Runner` hides
`__main__` from the start-up data otherwise (`_main_module_hidden`, around
the `submit` calls that may start workers).

A worker that dies or stops answering is replaced, and the files of the
unfinished tasks are converted again one at a time, so that only the file
responsible is counted as failed.
"""

import collections
import concurrent.futures
import concurrent.futures.process
import contextlib
import dataclasses
import itertools
import logging
import multiprocessing
import os
import sys

from keras_musicvae.data import budget
from keras_musicvae.data import midi_io
from keras_musicvae.data import worker

logger = logging.getLogger("keras_musicvae.data")


FILES_PER_TASK = 16


def default_num_workers():
    """The CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return os.cpu_count() or 1


START_METHOD_VARIABLE = "KERAS_MUSICVAE_START_METHOD"


def start_method():
    """The multiprocessing start method of conversion pools.

    `$KERAS_MUSICVAE_START_METHOD` when set, else `"forkserver"` where the
    platform has it (Linux, macOS), else `"spawn"` (Windows). Never `"fork"`
    by default: forking a process whose TensorFlow / JAX / PyTorch threads
    hold locks can deadlock the child, and a pool may be started after those
    frameworks are loaded.

    Raises:
        ValueError: If the variable names a method this platform lacks.
    """
    methods = multiprocessing.get_all_start_methods()
    chosen = os.environ.get(START_METHOD_VARIABLE, "").strip()
    if chosen:
        if chosen not in methods:
            raise ValueError(
                f"{START_METHOD_VARIABLE}={chosen!r} is not a start method of this platform; "
                f"use one of {', '.join(methods)}."
            )
        return chosen
    return "forkserver" if "forkserver" in methods else "spawn"


def pool_context():
    """The multiprocessing context of conversion pools (see `start_method`).

    The fork server preloads only `keras_musicvae.data.worker` (NumPy,
    note-seq, the converters' base), so each worker forks from a clean
    process that never loaded an ML framework.
    """
    method = start_method()
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(["keras_musicvae.data.worker"])
    return context


def _wall_clock_limit(task):
    """Seconds to wait for a task before taking its worker for stuck.

    A backstop only: workers enforce CPU-time budgets themselves. None when
    the limits set no CPU budget.
    """
    limits = task.limits if task.limits is not None else midi_io.DEFAULT_LIMITS
    if not limits.file_cpu_seconds:
        return None
    return 60.0 + 4.0 * limits.file_cpu_seconds * len(task.items)


_POOL_FAILURES = (concurrent.futures.process.BrokenProcessPool, concurrent.futures.TimeoutError)


class Runner:
    """Runs `worker.convert_task` over tasks, results in task order.

    With `num_workers <= 1` everything runs in this process; otherwise in a
    process pool, with at most `2 * num_workers` tasks in flight (memory
    stays bounded however many files there are). When a worker dies or stops
    answering, the pool is replaced and the unfinished tasks are run again
    one file at a time (`_run_alone`).
    """

    def __init__(self, num_workers):
        self.num_workers = num_workers
        self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def map(self, tasks):
        if self.num_workers <= 1:
            for task in tasks:
                yield worker.convert_task(task)
            return
        tasks = iter(tasks)
        pending = collections.deque()
        self._fill(pending, tasks)
        while pending:
            task, future = pending.popleft()
            try:
                results = future.result(timeout=_wall_clock_limit(task))
            except _POOL_FAILURES as error:
                yield from self._recover([(task, future)] + list(pending), error)
                pending.clear()
            else:
                yield results
            self._fill(pending, tasks)

    def _fill(self, pending, tasks):
        """Submits tasks until `2 * num_workers` are in flight."""
        for task in itertools.islice(tasks, max(0, 2 * self.num_workers - len(pending))):
            pending.append((task, self._submit(task)))

    def _recover(self, unfinished, error):
        """After a dead or stuck worker: the results of `unfinished`, in order."""
        logger.warning(
            "A conversion worker %s; converting the files of %d unfinished task(s) one at a time",
            "stopped answering" if isinstance(error, TimeoutError) else "died",
            len(unfinished),
        )
        self._discard_pool()
        for task, future in unfinished:
            yield _finished_result(future) or self._run_alone(task)

    def _run_alone(self, task):
        """Runs each item of `task` as its own task; a dead worker fails only it."""
        results = []
        for entry in task.items:
            single = dataclasses.replace(task, items=[entry])
            try:
                results.extend(self._submit(single).result(timeout=_wall_clock_limit(single)))
            except _POOL_FAILURES as error:
                self._discard_pool()
                index, item, _ = entry
                result = worker.ItemResult(index=index, name=item.name)
                if isinstance(error, TimeoutError):
                    worker.fail_item(result, budget.REASON_TIMED_OUT, "the worker stopped answering")
                else:
                    worker.fail_item(result, budget.REASON_WORKER_DIED, "killed by the system or crashed")
                results.append(result)
        return results

    def _discard_pool(self):
        """Kills the pool's workers (a dead or stuck pool) and forgets it."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if hasattr(pool, "kill_workers"):  # Python >= 3.14
            pool.kill_workers()
        else:
            processes = getattr(pool, "_processes", None) or {}
            for process in list(processes.values()):
                process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def _submit(self, task):
        """Submits a task; a broken pool gives a future holding its error."""
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.num_workers, mp_context=pool_context(), initializer=worker.init_worker
            )
        # Workers start inside `submit`. A fork-server / spawn worker
        # re-imports the main script unless told otherwise, which runs a
        # script without an `if __name__ == "__main__":` guard again; it is
        # not needed unless the converter or augmenter is defined there.
        uses_main = any(
            type(obj).__module__ == "__main__" for obj in (task.converter, task.augmenter) if obj is not None
        )
        try:
            with contextlib.nullcontext() if uses_main else _main_module_hidden():
                return self._pool.submit(worker.convert_task, task)
        except concurrent.futures.process.BrokenProcessPool as error:
            future = concurrent.futures.Future()
            future.set_exception(error)
            return future


def _finished_result(future):
    """A future's results if it completed successfully, else None."""
    if future.done() and not future.cancelled() and future.exception() is None:
        return future.result()
    return None


@contextlib.contextmanager
def _main_module_hidden():
    """Hides `__main__`'s spec and file from multiprocessing's start-up data."""
    main = sys.modules.get("__main__")
    saved = {name: getattr(main, name) for name in ("__spec__", "__file__") if hasattr(main, name)}
    try:
        if main is not None:
            main.__spec__ = None
            if "__file__" in saved:
                del main.__file__
        yield
    finally:
        for name, value in saved.items():
            setattr(main, name, value)


def chunks(sequence, size):
    for start in range(0, len(sequence), size):
        yield sequence[start : start + size]


def workers_for(num_workers, num_tasks):
    if num_workers is None:
        num_workers = default_num_workers()
    return max(1, min(num_workers, num_tasks))

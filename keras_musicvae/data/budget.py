"""A CPU-time and memory budget for the work done on one file.

Conversion worker processes read and convert each file inside `file_budget`:

* CPU time: an interval timer (`ITIMER_PROF`, user + system CPU time of the
  process, so a loaded machine does not make files time out) raises
  `FileTimedOut` in the worker when the file has used its seconds. It is a
  `BaseException`, so no `except Exception` inside note-seq or pretty_midi
  swallows it.
* Memory: the soft `RLIMIT_AS` (address space) is set to the process's
  current size plus the budget, so an allocation beyond it raises
  `MemoryError` instead of growing the worker by gigabytes; the previous
  limit is restored afterwards.

Both need a POSIX system and the main thread (signals); memory limits need
Linux (macOS ignores `RLIMIT_AS`). Where a mechanism is missing the budget
silently does not apply; pipelines still survive a worker that dies (see
`parallel.Runner`). Never used in the user's own process: a signal handler
and an address-space limit there would surprise the caller.
"""

import contextlib
import os
import threading

try:  # POSIX only
    import resource
    import signal
except ImportError:  # pragma: no cover - Windows
    resource = None
    signal = None

REASON_TIMED_OUT = "timed out"
REASON_OUT_OF_MEMORY = "out of memory"
REASON_WORKER_DIED = "worker process died"


class FileTimedOut(BaseException):
    """Raised inside `file_budget` when the CPU-time budget is spent."""


@contextlib.contextmanager
def file_budget(cpu_seconds=None, memory_bytes=None):
    """Runs the body under a CPU-time and address-space budget.

    Args:
        cpu_seconds: CPU seconds the body may use (None: no limit).
        memory_bytes: Bytes of address space the body may add to the
            process (None: no limit).

    Raises:
        FileTimedOut: From the body, once it has used `cpu_seconds`.
        MemoryError: From the body, when an allocation exceeds the budget.
    """
    with _cpu_timer(cpu_seconds), _address_space_limit(memory_bytes):
        yield


@contextlib.contextmanager
def _cpu_timer(seconds):
    if not seconds or not _can_use_signals():
        yield
        return

    def on_timer(signum, frame):
        del signum, frame
        raise FileTimedOut(f"more than {seconds:g} s of CPU time")

    previous = signal.signal(signal.SIGPROF, on_timer)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        # None: a handler installed outside Python; the default is the best guess.
        signal.signal(signal.SIGPROF, signal.SIG_DFL if previous is None else previous)


@contextlib.contextmanager
def _address_space_limit(extra_bytes):
    size = _address_space_size() if extra_bytes else None
    if size is None or resource is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    wanted = size + int(extra_bytes)
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        wanted = soft  # an outer, tighter limit stays in force
    try:
        resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
        applied = True
    except (ValueError, OSError):  # not allowed here: no limit
        applied = False
    try:
        yield
    finally:
        if applied:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _can_use_signals():
    return (
        signal is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )


def _address_space_size():
    """This process's virtual memory size in bytes (Linux), else None."""
    try:
        with open("/proc/self/statm", "rb") as f:
            pages = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def peak_rss_reset():
    """Resets this process's peak resident set size (Linux >= 4.0).

    Returns:
        True when the next `peak_rss_bytes` measures from now on.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def peak_rss_bytes():
    """This process's peak resident set size in bytes (since the last reset)."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if resource is None:  # pragma: no cover - Windows
        return 0
    # ru_maxrss: kilobytes on Linux, never reset.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

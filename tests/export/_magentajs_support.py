"""Helpers of the magenta.js tests: the Node runner, a local HTTP server, NoteSequences as JSON.

magenta.js (`@magenta/music`, pinned in tests/js/package.json) runs in Node with
`require('@magenta/music/node/music_vae')` and fetches the exported folder
over HTTP, as a browser would; `tests/js/magentajs_runner.js` does the JS
side (JSON in, JSON out).
"""

import contextlib
import functools
import http.server
import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading

import note_seq
import pytest

from support import REPO_ROOT

JS_DIR = REPO_ROOT / "tests" / "js"
RUNNER = JS_DIR / "magentajs_runner.js"


def require_magentajs():
    """The `node` executable, or skip saying what is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: the magenta.js tests need `node` (Node 20).")
    if not (JS_DIR / "node_modules" / "@magenta" / "music").is_dir():
        pytest.skip(
            f"magenta.js is not installed in {JS_DIR / 'node_modules'}: run `npm ci` in tests/js "
            "(`make install` does it when npm is present)."
        )
    return node


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(folder):
    """Serves `folder` on 127.0.0.1 (a free port); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def run_magentajs(jobs, work_dir, timeout=600):
    """Runs the jobs (dicts of `magentajs_runner.js`) in Node; returns the results dict.

    Each job's `folder` (a subfolder of `work_dir`) is served over HTTP and
    becomes its `url`.
    """
    node = require_magentajs()
    work_dir = pathlib.Path(work_dir)
    with serve(work_dir) as base:
        payload = []
        for job in jobs:
            job = dict(job)
            folder = pathlib.Path(job.pop("folder"))
            job["url"] = f"{base}/{folder.relative_to(work_dir).as_posix()}"
            payload.append(job)
        job_path = work_dir / "magentajs_job.json"
        result_path = work_dir / "magentajs_result.json"
        job_path.write_text(json.dumps({"jobs": payload}))
        completed = subprocess.run(
            [node, str(RUNNER), str(job_path), str(result_path)],
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    if completed.returncode != 0 or not result_path.exists():
        raise AssertionError(f"magenta.js run failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    return json.loads(result_path.read_text())


def note_sequence_json(sequence, quantize_steps_per_quarter=None):
    """A NoteSequence as magenta.js's `INoteSequence` object (camelCase, numbers).

    With `quantize_steps_per_quarter`, the sequence is quantized first (and
    carries both times and steps), as magenta.js's melody, drums, trio and
    multitrack converters require.
    """
    if quantize_steps_per_quarter:
        sequence = note_seq.quantize_note_sequence(sequence, quantize_steps_per_quarter)
    out = {
        "notes": [],
        "totalTime": float(sequence.total_time),
        "tempos": [{"time": float(t.time), "qpm": float(t.qpm)} for t in sequence.tempos],
        "timeSignatures": [
            {"time": float(t.time), "numerator": int(t.numerator), "denominator": int(t.denominator)}
            for t in sequence.time_signatures
        ],
    }
    for note in sequence.notes:
        item = {
            "pitch": int(note.pitch),
            "velocity": int(note.velocity),
            "startTime": float(note.start_time),
            "endTime": float(note.end_time),
            "program": int(note.program),
            "instrument": int(note.instrument),
            "isDrum": bool(note.is_drum),
        }
        if quantize_steps_per_quarter:
            item["quantizedStartStep"] = int(note.quantized_start_step)
            item["quantizedEndStep"] = int(note.quantized_end_step)
        out["notes"].append(item)
    if quantize_steps_per_quarter:
        out["quantizationInfo"] = {"stepsPerQuarter": int(sequence.quantization_info.steps_per_quarter)}
        out["totalQuantizedSteps"] = int(sequence.total_quantized_steps)
    return out


def run_cli(*args, timeout=600):
    """Runs `python -m keras_musicvae ARGS` (TensorFlow backend); returns the CompletedProcess."""
    env = dict(os.environ)
    env.setdefault("KERAS_BACKEND", "tensorflow")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "keras_musicvae", *[str(a) for a in args]],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )

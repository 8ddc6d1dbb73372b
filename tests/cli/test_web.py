"""`keras-musicvae web`: the server (what it sends, and only that), its errors, and the page
in a real headless Chromium (driven by tests/js/web_runner.js with playwright-core).

The browser test skips, saying why, without Node, `npm ci` in tests/js (playwright-core and
magenta.js) or Debian's Chromium (`apt-get install chromium`); the rest needs none of them.
"""

import http.client
import json
import os
import pathlib
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from cli_support import cli_env
from support import REPO_ROOT

JS_DIR = REPO_ROOT / "tests" / "js"
BUNDLE = JS_DIR / "node_modules" / "@magenta" / "music" / "dist" / "magentamusic.js"
RUNNER = JS_DIR / "web_runner.js"
CHROMIUM = pathlib.Path("/usr/bin/chromium")
START_TIMEOUT = 180  # seconds for the command to export the model and print its URL


# ------------------------------------------------------------------ helpers
def get(base, path, method="GET"):
    """Sends `path` exactly as given (no normalization); returns (status, body, content type)."""
    host, port = base.removeprefix("http://").rstrip("/").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.read(), response.getheader("Content-Type")
    finally:
        connection.close()


@pytest.fixture(scope="module")
def exported(tiny_preset, tmp_path_factory):
    """The tiny model's magenta.js folder (exported in-process, as the command does)."""
    from keras_musicvae import MusicVAE
    from keras_musicvae.export import export_magentajs

    folder = tmp_path_factory.mktemp("web") / "model"
    return export_magentajs(MusicVAE.from_preset(tiny_preset), folder)


@pytest.fixture
def site_url(exported, tmp_path):
    """A running server of the page, the exported model and a stand-in bundle; yields its URL."""
    from keras_musicvae.web.server import Site
    from keras_musicvae.web.server import make_server

    bundle = tmp_path / "magentamusic.js"
    bundle.write_text("// a stand-in for magenta.js\n")
    server = make_server("127.0.0.1", 0, Site(exported, magentajs=bundle, title="tiny <model>"))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def start_web(model, tmp_path, *extra):
    """Starts `keras-musicvae web` in a subprocess; returns (process, url).

    Its temporary folder goes into `tmp_path/tmp` (TMPDIR), so that a test can
    check it is removed; stderr goes to `tmp_path/stderr.txt`.
    """
    temp = tmp_path / "tmp"
    temp.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "keras_musicvae", "web", "--model", str(model), "--port", "0", "--no-open", *extra]
    stderr = open(tmp_path / "stderr.txt", "w")
    process = subprocess.Popen(command, env=cli_env(TMPDIR=str(temp)), stdout=subprocess.PIPE, stderr=stderr,
                               text=True, bufsize=1, start_new_session=True)
    stderr.close()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 1.0)
        if ready:
            line = process.stdout.readline()
            if "http://" in line:
                return process, line[line.index("http://"):].split()[0]
        if process.poll() is not None:
            break
    stop_web(process, signal.SIGKILL)
    raise AssertionError(f"keras-musicvae web printed no URL: {(tmp_path / 'stderr.txt').read_text()[-3000:]}")


def stop_web(process, sig=signal.SIGINT):
    """Sends `sig` to our own server process (only its pid); returns (exit code, rest of stdout)."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        out, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return process.returncode, out


# ------------------------------------------------------------------ the server
def test_serves_the_page_the_model_and_the_bundle(site_url, exported):
    status, page, content_type = get(site_url, "/")
    assert status == 200 and content_type.startswith("text/html")
    assert b'<script src="magentamusic.js" data-magentajs>' in page
    assert b"tiny &lt;model&gt;" in page  # the title is escaped
    assert get(site_url, "/index.html")[1] == page
    assert get(site_url, "/app.js")[0] == 200
    assert get(site_url, "/style.css")[2].startswith("text/css")
    assert get(site_url, "/magentamusic.js")[1] == b"// a stand-in for magenta.js\n"
    status, body, content_type = get(site_url, "/model/config.json?cache=no")
    assert status == 200 and content_type == "application/json"
    assert json.loads(body)["dataConverter"]["type"] == "MelodyConverter"
    manifest = json.loads(get(site_url, "/model/weights_manifest.json")[1])
    shard = manifest[0]["paths"][0]
    assert get(site_url, f"/model/{shard}")[1] == (exported / shard).read_bytes()
    status, body, _ = get(site_url, "/model/config.json", method="HEAD")
    assert status == 200 and body == b""


@pytest.mark.parametrize(
    "path",
    [
        "/../pyproject.toml",
        "/../../../../etc/passwd",
        "/model/../config.json",
        "/model/../../pyproject.toml",
        "/%2e%2e/pyproject.toml",
        "/model/%2e%2e/%2e%2e/pyproject.toml",
        "/model/..%2fconfig.json",
        "//etc/passwd",
        "/model/",
        "/model",
        "/server.py",
        "/__init__.py",
        "/web/app.js",
    ],
)
def test_nothing_else_is_served(site_url, path):
    status, body, _ = get(site_url, path)
    assert status == 404, (path, body[:200])


def test_files_added_after_start_are_not_served(site_url, exported):
    added = exported / "added_later.json"
    added.write_text("{}")
    try:
        assert get(site_url, "/model/added_later.json")[0] == 404
    finally:
        added.unlink()


def test_a_bundle_url_is_left_to_the_browser(exported):
    from keras_musicvae.web.server import DEFAULT_MAGENTAJS
    from keras_musicvae.web.server import Site

    site = Site(exported)
    assert "@magenta/music@1.23.1/dist/magentamusic.js" in DEFAULT_MAGENTAJS
    assert f'src="{DEFAULT_MAGENTAJS}"'.encode() in site.lookup("/")[0]
    assert site.lookup("/magentamusic.js") is None


# ------------------------------------------------------------------ errors
def test_errors_are_one_clear_line(tiny_preset, tmp_path, capsys):
    from keras_musicvae.cli.main import main

    cases = [
        (["--model", "no_such_model"], 2, "no_such_model"),
        (["--model", "hierdec_mel_16bar"], 1, "hierarchical decoder behind a flat encoder"),
        (["--model", str(tiny_preset), "--magentajs", str(tmp_path / "missing.js")], 1, "missing.js: no such"),
        (["--model", str(tiny_preset), "--port", "70000"], 2, "from 0 (any free port) to 65535"),
    ]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cases.append((["--model", str(tiny_preset), "--port", str(port)], 1, f"port {port} on 127.0.0.1 is already in use"))
        for args, code, message in cases:
            assert main(["web", "--no-open", *args]) == code, args
            err = capsys.readouterr().err
            assert message in err, (args, err)
            assert "Traceback" not in err


def test_the_command_serves_until_stopped(tiny_preset, tmp_path):
    process, url = start_web(tiny_preset, tmp_path, "--magentajs", "https://example.invalid/mm.js")
    try:
        assert url.startswith("http://127.0.0.1:")
        status, page, _ = get(url, "/")
        assert status == 200 and b'src="https://example.invalid/mm.js"' in page
        assert get(url, "/model/config.json")[0] == 200
        assert get(url, "/model/weights_manifest.json")[0] == 200
        assert get(url, "/../pyproject.toml")[0] == 404
        assert list((tmp_path / "tmp").iterdir())  # the exported folder, while serving
    finally:
        code, out = stop_web(process, signal.SIGTERM)  # the browser test stops with SIGINT (Ctrl-C)
    assert code == 0, (tmp_path / "stderr.txt").read_text()
    assert "stopped." in out
    assert not list((tmp_path / "tmp").iterdir())  # removed when stopped


def test_a_stop_during_a_request_still_stops(exported, capsys):
    """SIGTERM can land while the server is inside its own request handling (seen in CI):
    socketserver reports an `Exception` there as a failed request and serves on, so the
    stop must get through it."""
    import argparse

    from keras_musicvae.cli import web
    from keras_musicvae.web.server import Site

    server = web._bind("127.0.0.1", 0)
    server.site = Site(exported, magentajs="https://example.invalid/mm.js", title="tiny")

    def stop_while_handling(request, client_address):
        web._raise_stop(signal.SIGTERM, None)

    server.process_request = stop_while_handling
    client = threading.Thread(target=lambda: _try_get(server.url, "/"), daemon=True)
    watchdog = threading.Timer(60, server.shutdown)  # without the fix it would serve on forever
    client.start()
    watchdog.start()
    try:
        args = argparse.Namespace(host="127.0.0.1", model="tiny", open=False)
        assert web._serve(server, args) == 0
        assert watchdog.is_alive(), "the stop was swallowed: only the watchdog ended serving"
    finally:
        watchdog.cancel()
        server.server_close()
        client.join(timeout=30)
    assert "stopped." in capsys.readouterr().out


def _try_get(url, path):
    try:
        get(url, path)
    except OSError:  # the server closed the connection unanswered: expected here
        pass


# ------------------------------------------------------------------ the page in Chromium
def require_browser():
    """The `node` executable, or skip saying what is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: the browser test drives Chromium with playwright-core in Node.")
    for needed, how in (
        (JS_DIR / "node_modules" / "playwright-core", "run `npm ci --prefix tests/js` (make test does)"),
        (BUNDLE, "run `npm ci --prefix tests/js` (make test does)"),
        (CHROMIUM, "install Debian's Chromium: `apt-get install chromium`"),
    ):
        if not needed.exists():
            pytest.skip(f"{needed} is missing: {how}.")
    return node


@pytest.mark.slow
def test_the_page_samples_interpolates_and_downloads_in_chromium(tiny_preset, melodies, tmp_path):
    import note_seq

    node = require_browser()
    process, url = start_web(tiny_preset, tmp_path, "--magentajs", BUNDLE)
    try:
        job = {
            "url": url,
            "midiA": str(melodies["a"]),
            "midiB": str(melodies["b"]),
            "downloadDir": str(tmp_path),
            "screenshot": os.environ.get("KERAS_MUSICVAE_WEB_SCREENSHOT", str(tmp_path / "page.png")),
            "chromium": str(CHROMIUM),
            "steps": 5,
        }
        (tmp_path / "job.json").write_text(json.dumps(job))
        completed = subprocess.run([node, str(RUNNER), str(tmp_path / "job.json"), str(tmp_path / "result.json")],
                                   cwd=JS_DIR, capture_output=True, text=True, timeout=180)
        assert completed.returncode == 0, completed.stderr[-4000:]
        result = json.loads((tmp_path / "result.json").read_text())
    finally:
        code, _ = stop_web(process)
    assert code == 0

    assert result["pageErrors"] == [] and result["consoleErrors"] == [] and result["notFound"] == [], result
    assert "MelodyConverter" in result["modelInfo"]
    assert result["sample"]["rects"] > 0  # the sample's notes on the piano roll
    assert pathlib.Path(job["screenshot"]).stat().st_size > 0
    # The slider walks through the 5 precomputed steps, and the roll changes along the way.
    assert result["sliderMax"] == 4 and len(result["steps"]) == 5
    assert result["stepValue"] == "5 of 5"
    assert all(step["rects"] > 0 for step in result["steps"])
    assert len({step["svg"] for step in result["steps"]}) > 1
    assert (result["playLabel"], result["stoppedLabel"]) == ("Stop", "Play")
    # The downloaded MIDI file holds the shown step's notes.
    assert result["downloadName"] == "interpolation_05_of_05.mid"
    downloaded = note_seq.midi_file_to_note_sequence(result["download"])
    assert len(downloaded.notes) == result["steps"][-1]["rects"]

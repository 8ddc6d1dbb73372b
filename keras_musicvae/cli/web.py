"""`keras-musicvae web`: a web page to sample, interpolate, hear and download with a model.

The model is exported to a temporary magenta.js folder (removed when the
command stops) and served, with the page of `keras_musicvae/web/`, by
`keras_musicvae.web.server` on 127.0.0.1. The page runs the model in the
browser with magenta.js (`@magenta/music` 1.23.1): nothing is computed in
Python once the server runs.
"""

import argparse
import errno
import ipaddress
import os
import pathlib
import shutil
import signal
import socket
import sys
import tempfile

from keras_musicvae.cli import common

EXAMPLES = """
keras-musicvae web --model runs/mel/preset
keras-musicvae web --model runs/mel/preset --port 8080 --no-open
keras-musicvae web --model cat_mel_2bar_small --port 0      # any free port; untrained: random music
keras-musicvae web --model runs/mel/preset --magentajs tests/js/node_modules/@magenta/music/dist/magentamusic.js
"""


def port_number(text):
    """argparse type of `--port`: an integer from 0 (a free port) to 65535."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 (any free port) to 65535; got {text!r}")
    return value


def register(subparsers):
    from keras_musicvae.cli.main import add_command
    from keras_musicvae.web.server import DEFAULT_MAGENTAJS

    parser = add_command(
        subparsers,
        "web",
        help="a web page that samples and interpolates with a model (magenta.js)",
        description=(
            "Exports the model for magenta.js into a temporary folder and serves a page that runs it in "
            "the browser: sample (with a temperature), interpolate between two MIDI files you upload "
            "(a slider walks through the steps), hear the music, see piano rolls and download MIDI "
            "files. Serves until Ctrl-C.\n\n"
            "The page loads magenta.js (@magenta/music 1.23.1) from jsDelivr's CDN; for offline use "
            "give --magentajs the path of its dist/magentamusic.js (npm install @magenta/music@1.23.1). "
            "Models magenta.js cannot run (flat_*_16bar, hierdec_*, some GrooVAEs) are refused, "
            "naming why (docs/MAGENTA.md)."
        ),
        examples=EXAMPLES,
    )
    common.add_model_option(parser)
    parser.add_argument("--host", default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=port_number, default=8000,
        help="port to listen on; 0 picks a free one (default 8000)")
    parser.add_argument("--magentajs", default=DEFAULT_MAGENTAJS, metavar="URL_OR_FILE",
        help="magenta.js's browser bundle: a URL, or a local dist/magentamusic.js that the server "
             "serves itself (default: jsDelivr's @magenta/music@1.23.1)")
    parser.add_argument("--open", action=argparse.BooleanOptionalAction, default=True,
        help="open the page in the default web browser (default: --open)")
    parser.set_defaults(run=run)


class _Stop(BaseException):
    """Raised by the SIGTERM handler to stop serving cleanly.

    A `BaseException`, like `KeyboardInterrupt`: the signal can land while the
    server is inside its own request handling, whose `except Exception` would
    otherwise report it as a failed request and go on serving.
    """


def run(args):
    from keras_musicvae.web import server as web_server

    bundle = args.magentajs
    if not web_server.is_url(bundle):
        bundle = common.existing_file(bundle, "magenta.js bundle (--magentajs: a URL or dist/magentamusic.js)")
    spec = common.ModelSpec(args.model, args.config)
    _check_magentajs_can_run(spec)
    server = _bind(args.host, args.port)
    work_dir = pathlib.Path(tempfile.mkdtemp(prefix="keras-musicvae-web-"))
    previous = _on_sigterm(_raise_stop)
    try:
        model_folder = _export(spec, work_dir)
        server.site = web_server.Site(model_folder, magentajs=bundle, title=spec.spec)
        return _serve(server, args)
    except _Stop:
        raise KeyboardInterrupt from None  # terminated before serving: as Ctrl-C (exit code 130)
    finally:
        _on_sigterm(previous)
        server.server_close()
        shutil.rmtree(work_dir, ignore_errors=True)


def _check_magentajs_can_run(spec):
    """Refuses, before any work, a model magenta.js cannot run (the message says why)."""
    from keras_musicvae.export.magentajs import MagentaJSUnsupportedError
    from keras_musicvae.export.magentajs import magentajs_spec

    try:
        magentajs_spec(spec.config)
    except MagentaJSUnsupportedError as e:
        raise common.CLIError(f"--model {spec.spec}: {e}") from None


def _bind(host, port):
    """The bound (not yet serving) server, or a `CLIError` saying why it cannot listen."""
    from keras_musicvae.web import server as web_server

    try:
        return web_server.make_server(host, port, site=None)
    except socket.gaierror:
        raise common.UsageError(f"--host {host}: not a host name or address this machine knows.") from None
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise common.CLIError(
                f"port {port} on {host} is already in use by another program: choose another --port, "
                "or --port 0 for any free one."
            ) from None
        if e.errno == errno.EACCES:
            raise common.CLIError(
                f"listening on port {port} needs administrator rights: choose a --port above 1023, "
                "or --port 0 for any free one."
            ) from None
        if e.errno == errno.EADDRNOTAVAIL:
            raise common.UsageError(f"--host {host}: not an address of this machine.") from None
        raise common.CLIError(f"cannot listen on {host}:{port}: {e.strerror or e}.") from None


def _export(spec, work_dir):
    """Loads the model and writes its magenta.js folder into `work_dir`; returns the folder."""
    from keras_musicvae.export.magentajs import MagentaJSUnsupportedError
    from keras_musicvae.export.magentajs import export_magentajs

    model = spec.load()
    try:
        return export_magentajs(model, work_dir / "model")
    except MagentaJSUnsupportedError as e:
        raise common.CLIError(f"--model {spec.spec}: {e}") from None


def _serve(server, args):
    """Serves until Ctrl-C or SIGTERM (a clean stop: exit code 0)."""
    url = server.url
    if not _is_loopback(args.host):
        common.warn(f"listening on {args.host}: other machines on the network can open the page and "
                    "download the model.")
    try:  # from the URL on, an interruption is the way to stop
        common.say(f"serving the model {args.model} at {url} (Ctrl-C to stop)")
        if args.open:
            _open_browser(url)
        server.serve_forever()
    except (KeyboardInterrupt, _Stop):
        pass
    common.say("stopped.")
    return common.EXIT_OK


def _raise_stop(signum, frame):
    raise _Stop()


def _on_sigterm(handler):
    """Sets the SIGTERM handler (main thread only; elsewhere a no-op); returns the previous one."""
    try:
        return signal.signal(signal.SIGTERM, handler)
    except (ValueError, TypeError):  # not the main thread, or no previous Python handler
        return None


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _open_browser(url):
    """Opens `url` in a graphical browser, or says to open it by hand."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        common.note(f"no graphical display: open {url} in a web browser.")
        return
    import webbrowser

    try:
        opened = webbrowser.open(url)
    except webbrowser.Error:
        opened = False
    if not opened:
        common.note(f"could not start a web browser: open {url} in one.")

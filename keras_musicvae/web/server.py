"""The HTTP server of `keras-musicvae web`: the page, one model folder, the bundle.

    site = Site(model_folder, magentajs=DEFAULT_MAGENTAJS, title="cat_mel_2bar_small")
    server = make_server("127.0.0.1", 0, site)   # 0: a free port
    server.serve_forever()

The server answers only the URL paths it was told about when it started,
each mapped to one file (or to the rendered page):

* `/`, `/index.html`, `/app.js`, `/style.css`: the page (this package);
* `/model/NAME`: each file of the exported magenta.js folder (`config.json`,
  `weights_manifest.json`, the weight shards), as listed at start-up;
* `/magentamusic.js`: the magenta.js bundle, when a local file is given
  (otherwise the page loads it from its URL, by default jsDelivr's CDN).

Any other path, `/../`, `/model/../x`, a folder, or a file added later, is
a 404: nothing is looked up on disk from a request, so nothing outside
these files can be reached. Standard library only.
"""

import html
import http.server
import pathlib
import shutil
import urllib.parse

PAGE_DIR = pathlib.Path(__file__).resolve().parent
PAGE_ASSETS = ("index.html", "app.js", "style.css")
MODEL_PREFIX = "/model/"
BUNDLE_PATH = "/magentamusic.js"
# magenta.js 1.23.1's browser bundle (it includes TensorFlow.js), from jsDelivr's npm CDN.
DEFAULT_MAGENTAJS = "https://cdn.jsdelivr.net/npm/@magenta/music@1.23.1/dist/magentamusic.js"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".bin": "application/octet-stream",
}


def is_url(text):
    """Whether a `--magentajs` value is an http(s) URL (else it names a local file)."""
    return urllib.parse.urlsplit(str(text)).scheme in ("http", "https")


class Site:
    """The fixed set of things the server sends: URL path -> file or bytes.

    Args:
        model_folder: the exported magenta.js folder (its regular files are
            served under `/model/`).
        magentajs: the bundle's URL, or the path of a local copy (served as
            `/magentamusic.js`).
        title: the model's name, shown on the page.
        page_dir: the folder of `index.html`, `app.js` and `style.css`.

    Raises:
        FileNotFoundError: a page asset, the model folder or the local
            bundle is missing (the message names it).
    """

    def __init__(self, model_folder, magentajs=DEFAULT_MAGENTAJS, title="MusicVAE", page_dir=PAGE_DIR):
        self.routes = {}
        page_dir = pathlib.Path(page_dir)
        for name in PAGE_ASSETS:
            path = page_dir / name
            if not path.is_file():
                raise FileNotFoundError(f"{path}: a file of the web page is missing (a broken installation?).")
            self.routes[f"/{name}"] = path
        if is_url(magentajs):
            script = str(magentajs)
        else:
            bundle = pathlib.Path(magentajs).expanduser()
            if not bundle.is_file():
                raise FileNotFoundError(
                    f"{bundle}: no such magenta.js bundle (--magentajs takes a URL or the path of "
                    "@magenta/music's dist/magentamusic.js)."
                )
            self.routes[BUNDLE_PATH] = bundle.resolve()
            script = BUNDLE_PATH.lstrip("/")
        folder = pathlib.Path(model_folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such magenta.js model folder.")
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.is_symlink():
                self.routes[MODEL_PREFIX + path.name] = path
        page = (page_dir / "index.html").read_text(encoding="utf-8")
        page = page.replace("{{magentajs}}", html.escape(script, quote=True))
        page = page.replace("{{title}}", html.escape(str(title)))
        self.routes["/index.html"] = page.encode("utf-8")
        self.routes["/"] = self.routes["/index.html"]
        self.script = script

    def lookup(self, raw_path):
        """What to send for a request's path: `(content, content_type)`, or None (404).

        `content` is bytes or a `pathlib.Path`. The query string and fragment
        are ignored; the path is percent-decoded and must be one of the
        routes exactly.
        """
        path = urllib.parse.unquote(urllib.parse.urlsplit(raw_path).path)
        content = self.routes.get(path)
        if content is None:
            return None
        suffix = pathlib.PurePosixPath(path if path != "/" else "/index.html").suffix
        return content, CONTENT_TYPES.get(suffix, "application/octet-stream")


class Handler(http.server.BaseHTTPRequestHandler):
    """Answers GET and HEAD from the server's `Site`; 404 for anything else it lacks."""

    server_version = "keras-musicvae-web"

    def do_GET(self):
        self._answer(send_body=True)

    def do_HEAD(self):
        self._answer(send_body=False)

    def _answer(self, send_body):
        found = self.server.site.lookup(self.path)
        if found is None:
            body = b"Not found.\n"
            self.send_response(404)
            self._headers("text/plain; charset=utf-8", len(body))
            if send_body:
                self.wfile.write(body)
            return
        content, content_type = found
        size = len(content) if isinstance(content, bytes) else content.stat().st_size
        self.send_response(200)
        self._headers(content_type, size)
        if not send_body:
            return
        try:
            if isinstance(content, bytes):
                self.wfile.write(content)
            else:
                with content.open("rb") as f:
                    shutil.copyfileobj(f, self.wfile)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away mid-transfer

    def _headers(self, content_type, size):
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(size))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()

    def log_message(self, format, *args):
        pass  # quiet: the command prints its own lines


class WebServer(http.server.ThreadingHTTPServer):
    """A threading HTTP server that serves one `Site`."""

    daemon_threads = True

    def __init__(self, address, site):
        self.site = site
        super().__init__(address, Handler)

    @property
    def url(self):
        """The page's URL (with the port actually bound)."""
        host, port = self.server_address[:2]
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}/"


def make_server(host, port, site):
    """Binds a `WebServer` for `site` on `host:port` (0: a free port).

    Raises:
        OSError: the address cannot be bound (the port is in use, needs
            privileges, or the host is not an address of this machine).
    """
    import socket

    server_class = WebServer
    if ":" in host:
        server_class = type("WebServer6", (WebServer,), {"address_family": socket.AF_INET6})
    return server_class((host, port), site)

"""The web page of `keras-musicvae web`: a model in the browser, with magenta.js.

This package holds the page's assets (`index.html`, `app.js`, `style.css`,
shipped as package data) and `server`, the small HTTP server that serves
them, the model's magenta.js folder and (for offline use) the magenta.js
bundle. Only the Python standard library is used here; the command
(`keras_musicvae.cli.web`) exports the model and runs the server.
"""

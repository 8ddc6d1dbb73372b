"""The `keras-musicvae` command line (see `keras_musicvae.cli.main`, docs/CLI.md).

One module per subcommand (`demo`, `presets`, `prepare`, `train`, `sample`,
`interpolate`, `similar`, `attributes`, `encode`, `decode`, `convert`,
`export`), each with `register(subparsers)`; `common` holds what they share.
The modules are thin: they parse, call the library, and write files.
"""

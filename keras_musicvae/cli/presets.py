"""`keras-musicvae presets`: lists the built-in models."""

from keras_musicvae.cli import common

EXAMPLES = """
keras-musicvae presets
keras-musicvae presets --names          # one name per line, for scripts
"""


def register(subparsers):
    from keras_musicvae.cli.main import add_command

    parser = add_command(
        subparsers,
        "presets",
        help="list the built-in presets (models)",
        description=(
            "Lists the built-in presets: Magenta's 23 MusicVAE configurations, under their "
            "names with '_' (Magenta's spellings, e.g. cat-mel_2bar_small, work too). "
            "A preset has weights when a Magenta checkpoint was converted into it."
        ),
        examples=EXAMPLES,
    )
    parser.add_argument("--names", action="store_true", help="print only the names")
    parser.set_defaults(run=run)


def run(args):
    from keras_musicvae import presets

    try:
        listing = presets.list_presets()
        folder = presets.builtin_presets_dir()
    except FileNotFoundError as e:
        raise common.CLIError(str(e)) from None
    if args.names:
        for name in listing:
            common.say(name)
        return
    width = max(len(n) for n in listing) if listing else 0
    for name, description in listing.items():
        weights = "weights" if (folder / name / presets.WEIGHTS_FILE).exists() else "no weights"
        common.say(f"{name:<{width}}  {weights:<10}  {description}")

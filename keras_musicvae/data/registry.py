"""`converter_for_preset`: the data converter a preset trains on."""

from keras_musicvae.data.converter import converter_from_config


def converter_for_preset(name, **overrides):
    """Returns the data converter of preset `name`, with `overrides` applied.

    Args:
        name: A built-in preset name, a Magenta alias, or a preset folder.
        **overrides: Converter constructor arguments to replace, e.g.
            `max_tensors_per_notesequence=None` for no per-file cap or
            `mode="eval"`.

    Returns:
        A `DataConverter`.
    """
    from keras_musicvae.presets import load_preset_config

    config = load_preset_config(name)
    if not config.get("converter"):
        raise ValueError(f"Preset {name!r} names no data converter.")
    return converter_from_config(config["converter"], **overrides)

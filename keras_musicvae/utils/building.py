"""Building sub-layers that may already be built."""


def build_once(layer, *args):
    """Calls `layer.build(*args)` unless the layer is already built.

    A composite layer restored from its config receives sub-layers that Keras
    has already built from their own `build_config`; building them again would
    add a second set of weights (Keras refuses: "cannot add new state to a
    layer that is already built"). Composite layers build their parts with
    this instead of calling `build` directly.
    """
    if not layer.built:
        layer.build(*args)

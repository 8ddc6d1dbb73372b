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


def resolve_input_dim(layer, input_dim, input_shape):
    """The input depth a layer builds its weights for.

    Keras' build contract: a layer learns its input depth from the shape it
    is built with (`build(input_shape)`, on its first call). The MusicVAE
    layers also accept `input_dim` in the constructor, so that a model can
    create every weight before it sees data (checkpoint conversion, export,
    `from_preset`); either is enough, and when both are given they must
    agree.

    Args:
        layer: the layer being built (named in errors).
        input_dim: int or None, the constructor's `input_dim`.
        input_shape: the shape passed to `build`, or None.

    Returns:
        int, the input depth.

    Raises:
        ValueError: neither is known, or they disagree.
    """
    shape_dim = None
    if input_shape is not None and len(input_shape) and input_shape[-1] is not None:
        shape_dim = int(input_shape[-1])
    if input_dim is None and shape_dim is None:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}' cannot be built without its input depth: pass "
            "input_dim= to the constructor, or build it with an input shape (or call it on inputs)."
        )
    if input_dim is not None and shape_dim is not None and int(input_dim) != shape_dim:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}' was made for inputs of depth {input_dim}, but is "
            f"built with input shape {tuple(input_shape)} (depth {shape_dim})."
        )
    return int(input_dim) if input_dim is not None else shape_dim

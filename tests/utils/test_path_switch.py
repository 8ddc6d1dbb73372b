"""`PathSwitch`: the environment variable and `disabled()` turn a fast path off."""

from keras_musicvae.utils.path_switch import PathSwitch

VARIABLE = "KERAS_MUSICVAE_TEST_SWITCH"


def test_on_unless_the_variable_says_off(monkeypatch):
    switch = PathSwitch(VARIABLE)
    monkeypatch.delenv(VARIABLE, raising=False)
    assert switch.is_on()
    for value in ("0", "false", " OFF ", "No"):
        monkeypatch.setenv(VARIABLE, value)
        assert not switch.is_on(), value
    for value in ("1", "yes", "true"):
        monkeypatch.setenv(VARIABLE, value)
        assert switch.is_on(), value


def test_disabled_nests_and_restores(monkeypatch):
    monkeypatch.delenv(VARIABLE, raising=False)
    switch, other = PathSwitch(VARIABLE), PathSwitch(VARIABLE)
    with switch.disabled():
        assert not switch.is_on()
        assert other.is_on()  # each switch is its own
        with switch.disabled():
            assert not switch.is_on()
        assert not switch.is_on()
    assert switch.is_on()
    try:
        with switch.disabled():
            raise RuntimeError
    except RuntimeError:
        pass
    assert switch.is_on()

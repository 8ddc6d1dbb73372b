"""WAV rendering of MIDI files with FluidSynth and a General MIDI SoundFont.

Optional: nothing else in the package needs it. Rendering needs

* the `fluidsynth` program (Debian/Ubuntu: `apt-get install fluidsynth`;
  macOS: `brew install fluid-synth`), or its path in
  `$KERAS_MUSICVAE_FLUIDSYNTH`;
* a General MIDI SoundFont (`.sf2`): `$KERAS_MUSICVAE_SOUNDFONT`, or one of
  the usual system locations (Debian's `fluid-soundfont-gm` installs
  `/usr/share/sounds/sf2/FluidR3_GM.sf2`).

`find_synth()` says whether both are there; `render_wav` writes the WAV
atomically (temporary file + rename).
"""

import dataclasses
import os
import pathlib
import shutil
import subprocess

from keras_musicvae.utils import atomic_files

SOUNDFONT_ENV = "KERAS_MUSICVAE_SOUNDFONT"
FLUIDSYNTH_ENV = "KERAS_MUSICVAE_FLUIDSYNTH"
SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/local/share/soundfonts/default.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",
)
DEFAULT_SAMPLE_RATE = 44100


class AudioError(RuntimeError):
    """Rendering failed (names the file and FluidSynth's message)."""


@dataclasses.dataclass(frozen=True)
class Synth:
    """A FluidSynth program and a SoundFont, both found on disk.

    Attributes:
        fluidsynth: path of the `fluidsynth` program.
        soundfont: path of the `.sf2` SoundFont.
    """

    fluidsynth: str
    soundfont: str


def find_soundfont():
    """The SoundFont to use: `$KERAS_MUSICVAE_SOUNDFONT`, else a system one, else None."""
    configured = os.environ.get(SOUNDFONT_ENV)
    if configured:
        return configured if os.path.isfile(configured) else None
    for candidate in SOUNDFONT_CANDIDATES:
        if os.path.isfile(candidate):
            return candidate
    return None


def find_fluidsynth():
    """The `fluidsynth` program: `$KERAS_MUSICVAE_FLUIDSYNTH` or on PATH, else None."""
    configured = os.environ.get(FLUIDSYNTH_ENV)
    if configured:
        return configured if os.path.isfile(configured) and os.access(configured, os.X_OK) else None
    return shutil.which("fluidsynth")


def find_synth():
    """A `Synth` when both FluidSynth and a SoundFont are present, else None."""
    program, soundfont = find_fluidsynth(), find_soundfont()
    if program and soundfont:
        return Synth(program, soundfont)
    return None


def missing_synth_hint():
    """One sentence telling the user how to get WAV files."""
    return (
        "no WAV files: install FluidSynth and a General MIDI SoundFont "
        "(Debian/Ubuntu: apt-get install fluidsynth fluid-soundfont-gm) or set "
        f"${SOUNDFONT_ENV} / ${FLUIDSYNTH_ENV}"
    )


def render_wav(midi_path, wav_path, synth=None, sample_rate=DEFAULT_SAMPLE_RATE, gain=0.7, timeout=300):
    """Renders a MIDI file to a 16-bit stereo WAV file with FluidSynth.

    Args:
        midi_path: the MIDI file.
        wav_path: the WAV file to write (replaced atomically).
        synth: a `Synth` (default: `find_synth()`).
        sample_rate: samples per second.
        gain: FluidSynth's master gain (0-10; 0.7 avoids clipping on dense
            trios).
        timeout: seconds before giving up.

    Returns:
        The WAV path, as a `pathlib.Path`.

    Raises:
        AudioError: when FluidSynth or a SoundFont is missing, or rendering
            fails.
    """
    synth = synth or find_synth()
    if synth is None:
        raise AudioError(missing_synth_hint())
    wav_path = pathlib.Path(wav_path)
    with atomic_files.atomic_file(wav_path, suffix=".wav") as tmp:
        _run_fluidsynth(synth, midi_path, tmp, sample_rate, gain, timeout)
    return wav_path


def _run_fluidsynth(synth, midi_path, wav_path, sample_rate, gain, timeout):
    """Renders `midi_path` into the (existing) file `wav_path`; raises `AudioError` on failure."""
    command = [
        synth.fluidsynth,
        "-ni",  # no shell, no MIDI input
        "-q",
        "-g",
        str(gain),
        "-r",
        str(int(sample_rate)),
        "-T",
        "wav",
        "-F",
        str(wav_path),
        synth.soundfont,
        str(midi_path),
    ]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise AudioError(f"{midi_path}: FluidSynth took more than {timeout} s.") from None
    except OSError as e:
        raise AudioError(f"{midi_path}: cannot run {synth.fluidsynth} ({e}).") from None
    written = os.path.getsize(wav_path) if os.path.exists(wav_path) else 0
    if result.returncode != 0 or written <= 44:  # 44 bytes: a WAV header without samples
        message = (result.stderr or result.stdout or "").strip().splitlines()
        detail = message[-1] if message else f"exit code {result.returncode}"
        raise AudioError(f"{midi_path}: FluidSynth could not render it ({detail}).")

"""Rebuilds a real-MIDI corpus like the project's test/benchmark corpus on a fresh machine.

    python tools/build_corpus.py --output=/data/musicvae_corpus [--sources=freedoom,oneills1850]
    python tools/build_corpus.py --output=/data/musicvae_corpus --dry-run   # what would be fetched

Writes `<output>/corpus/{melody,drums,multi}/{train,eval}/<source>/*.mid`,
`<output>/corpus/manifest.json` (one entry per file: path, source, kind,
split, licence, shippable, sha1) and `<output>/licenses/<package>.copyright`.
A file is in eval when `int(sha1("<source>/<stem>")[:8], 16) % 100 <
--eval_percent`, `<stem>` being the file name without ".mid" (the rule the
existing corpus follows).

Where the music comes from (all of it human-made, with its licence):

* Debian packages, fetched with `apt-get download` (no root needed, nothing
  installed) and unpacked with `dpkg-deb -x`:
  freedoom/freedm (Freedoom game music, BSD-3-Clause: MIDI lumps `D_*` of the
  WAD files), openttd-openmsx, simutrans-data, freedink-data (MIDI files as
  shipped), hydrogen-data (drum-machine demo songs, rendered here as General
  MIDI drums on channel 10), mma (every 4/4 groove of the MMA library played 8
  bars by MMA itself, drum track kept).
* music21's bundled corpus from PyPI (`pip install --target`): O'Neill's 1850,
  Ryan's Mammoth Collection, Aird's Airs and other folk tunes in ABC (tunes in
  4/4 or 2/2 only), and Bach's chorales in 4/4 (every voice a program-0
  instrument), written out as MIDI by music21.

Only the Freedoom music may be redistributed with software (BSD-3-Clause,
keep its copyright notice); the rest is for local experiments and
benchmarks. The hydrogen and MMA renderings are this tool's own and may
differ in detail from an earlier build.
"""

import dataclasses
import glob
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("output", None, "Folder to write corpus/ and licenses/ into.")
flags.DEFINE_list("sources", [], "Sources to build (default: all). See --dry-run for the list.")
flags.DEFINE_integer("eval_percent", 10, "Percentage of files (by name hash) in the eval split.")
flags.DEFINE_bool("dry_run", False, "Only list what would be fetched and built.")
flags.DEFINE_string("work_dir", None, "Where downloads are unpacked (default: a temporary folder).")
flags.DEFINE_string("music21_version", "", "music21 version from PyPI (default: the latest).")


@dataclasses.dataclass(frozen=True)
class Source:
    """One origin of music in the corpus."""

    name: str
    kind: str  # melody | drums | multi
    license: str
    shippable: bool
    debian_packages: tuple = ()
    music21_folders: tuple = ()  # folders of music21/corpus
    description: str = ""


MUSIC21_ABC = "ABC tunes in 4/4 or 2/2 (M:C, C|), one MIDI file per tune"
SOURCES = {
    s.name: s
    for s in [
        Source("freedoom", "multi", "BSD-3-Clause (Freedoom project)", True, ("freedoom", "freedm"),
               description="MIDI music lumps D_* of freedoom1.wad, freedoom2.wad, freedm.wad, deduplicated"),
        Source("simutrans", "multi", "Artistic-1.0 (Simutrans team)", False, ("simutrans-data",),
               description="/usr/share/games/simutrans/music/*.mid"),
        Source("openmsx", "multi", "GPL-2.0 (OpenMSX authors)", False, ("openttd-openmsx",),
               description="/usr/share/games/openttd/baseset/openmsx/*.mid"),
        Source("freedink", "melody", "mixed per file (see freedink-data's README-REPLACEMENTS)", False,
               ("freedink-data",), description="/usr/share/games/dink/dink/Sound/*.mid"),
        Source("hydrogen", "drums", "GPL-2.0-or-later (Hydrogen demo songs)", False, ("hydrogen-data",),
               description="demo_songs/*.h2song pattern sequences as GM drums on channel 10"),
        Source("mma_grooves", "drums", "GPL-2.0 (MMA groove library)", False, ("mma",),
               description="every 4/4 groove of lib/*/*.mma played 8 bars by mma (RndSeed 1), drums kept"),
        Source("oneills1850", "melody", "tunes public domain; ABC transcription licence unstated", False,
               music21_folders=("oneills1850",), description=MUSIC21_ABC),
        Source("ryans_mammoth", "melody", "tunes public domain; ABC transcription licence unstated", False,
               music21_folders=("ryansMammoth",), description=MUSIC21_ABC),
        Source("airds_airs", "melody", "tunes public domain; ABC transcription licence unstated", False,
               music21_folders=("airdsAirs",), description=MUSIC21_ABC),
        Source("misc_folk", "melody", "tunes public domain; ABC licence unstated", False,
               music21_folders=("miscFolk", "nottingham-dataset"), description=MUSIC21_ABC),
        Source("bach_chorales", "melody", "compositions public domain; encodings' licence unstated", False,
               music21_folders=("bach",), description="4/4 chorales (MusicXML), all voices, program 0"),
    ]
}


def is_eval(source, name, eval_percent):
    """The split rule: `int(sha1("<source>/<file name without extension>")[:8], 16) % 100 < eval_percent`."""
    stem = os.path.splitext(name)[0]
    digest = hashlib.sha1(f"{source}/{stem}".encode("utf-8")).hexdigest()
    return int(digest[:8], 16) % 100 < eval_percent


# -- fetching -----------------------------------------------------------------


def fetch_debian_packages(packages, work_dir):
    """`apt-get download` + `dpkg-deb -x` into `work_dir/root`; returns that root."""
    debs = os.path.join(work_dir, "debs")
    root = os.path.join(work_dir, "root")
    os.makedirs(debs, exist_ok=True)
    os.makedirs(root, exist_ok=True)
    missing = [p for p in packages if not glob.glob(os.path.join(debs, f"{p}_*.deb"))]
    if missing:
        subprocess.run(["apt-get", "download", *missing], cwd=debs, check=True)
    for package in packages:
        for deb in glob.glob(os.path.join(debs, f"{package}_*.deb")):
            subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
    return root


def music21_corpus_dir(work_dir):
    """music21's corpus folder; music21 is installed under `work_dir` when absent."""
    try:
        import music21  # noqa: F401
    except ImportError:
        target = os.path.join(work_dir, "music21_site")
        if not os.path.exists(os.path.join(target, "music21")):
            spec = "music21" + (f"=={FLAGS.music21_version}" if FLAGS.music21_version else "")
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", target, spec],
                           check=True)
        sys.path.append(target)  # the running environment's packages win
    import music21

    return os.path.join(os.path.dirname(music21.__file__), "corpus")


# -- extraction: one generator per source, yielding (name, MIDI bytes) ----------


def wad_midi_lumps(path):
    """Yields `(lump name, bytes)` of the MIDI lumps (data starting 'MThd') of a Doom WAD."""
    with open(path, "rb") as f:
        data = f.read()
    magic, count, directory = struct.unpack("<4sii", data[:12])
    if magic not in (b"IWAD", b"PWAD"):
        raise ValueError(f"{path} is not a WAD file")
    for i in range(count):
        offset, size, raw = struct.unpack("<ii8s", data[directory + 16 * i : directory + 16 * (i + 1)])
        name = raw.rstrip(b"\0").decode("ascii", "replace")
        lump = data[offset : offset + size]
        if name.startswith("D_") and lump[:4] == b"MThd":
            yield name, lump


def extract_freedoom(root, work_dir):
    del work_dir
    # freedoom1, freedoom2, then freedm: a lump found twice keeps its first name.
    wads = glob.glob(os.path.join(root, "usr/share/games/doom/*.wad"))
    for wad in sorted(wads, key=lambda w: ("freedm" in os.path.basename(w), os.path.basename(w))):
        stem = os.path.splitext(os.path.basename(wad))[0]
        for lump, data in wad_midi_lumps(wad):
            yield f"{stem}_{lump}.mid", data


def _copy_files(pattern):
    def extract(root, work_dir):
        del work_dir
        for path in sorted(glob.glob(os.path.join(root, pattern))):
            with open(path, "rb") as f:
                yield os.path.basename(path), f.read()

    return extract


# Hydrogen instrument names -> General MIDI drum pitches (first match wins).
_GM_DRUMS = [
    ("kick", 36), ("bass drum", 36), ("stick", 37), ("rim", 37), ("clap", 39), ("snare", 38),
    ("floor tom", 41), ("tom low", 45), ("low tom", 45), ("tom 2", 45), ("tom mid", 47),
    ("tom 1", 48), ("tom hi", 50), ("high tom", 50), ("tom", 47), ("pedal", 44),
    ("semi-open", 46), ("open", 46), ("hat", 42), ("hh", 42), ("cowbell", 56), ("bell", 53),
    ("ride", 51), ("crash", 49), ("splash", 55), ("china", 52), ("tamb", 54), ("shaker", 70),
    ("conga", 63), ("bongo", 60), ("clave", 75),
]


def _gm_pitch(name):
    name = name.lower()
    for keyword, pitch in _GM_DRUMS:
        if keyword in name:
            return pitch
    return None


def h2song_to_midi(path):
    """A Hydrogen song (pattern sequence) as a General MIDI drum track (bytes)."""
    import io

    import mido

    song = ElementTree.parse(path).getroot()
    bpm = float(song.findtext("bpm", "120"))
    pitches = {}
    for instrument in song.iter("instrument"):
        pitch = _gm_pitch(instrument.findtext("name", ""))
        if pitch is not None and instrument.findtext("id") is not None:
            pitches[instrument.findtext("id")] = pitch
    patterns = {}
    for pattern in song.find("patternList").iter("pattern"):
        notes = [
            (int(n.findtext("position", "0")), pitches.get(n.findtext("instrument")),
             float(n.findtext("velocity", "0.8")))
            for n in pattern.iter("note")
        ]
        patterns[pattern.findtext("name")] = (int(pattern.findtext("size", "192")), notes)
    events = []
    tick = 0
    for group in song.find("patternSequence").iter("group"):
        names = [p.text for p in group.iter("patternID") if p.text in patterns]
        if not names:
            continue
        for name in names:
            for position, pitch, velocity in patterns[name][1]:
                if pitch is not None:
                    start = tick + position
                    vel = max(1, min(127, round(velocity * 127)))
                    events += [(start, 1, pitch, vel), (start + 12, 0, pitch, 0)]
        tick += max(patterns[name][0] for name in names)
    if not events:
        return None
    midi = mido.MidiFile(ticks_per_beat=48)
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0),
                            mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0)])
    now = 0
    for time, on, pitch, velocity in sorted(events, key=lambda e: (e[0], e[1])):
        kind = "note_on" if on else "note_off"
        track.append(mido.Message(kind, note=pitch, velocity=velocity, channel=9, time=time - now))
        now = time
    midi.tracks.append(track)
    out = io.BytesIO()
    midi.save(file=out)
    return out.getvalue()


def extract_hydrogen(root, work_dir):
    del work_dir
    for path in sorted(glob.glob(os.path.join(root, "usr/share/hydrogen/data/demo_songs/*.h2song"))):
        data = h2song_to_midi(path)
        if data:
            yield os.path.splitext(os.path.basename(path))[0] + ".mid", data


def main_groove(lib_file):
    """The first groove an MMA library file defines, if it is in 4/4 (else None)."""
    beats = 4
    with open(lib_file, encoding="latin-1") as f:
        for line in f:
            words = line.split()
            if len(words) >= 2 and words[0].lower() == "time":
                try:
                    beats = float(words[1])
                except ValueError:
                    pass
            if len(words) >= 2 and words[0].lower() == "defgroove":
                return words[1] if beats == 4 else None
    return None


def extract_mma(root, work_dir):
    import io

    import mido

    mma_home = os.path.join(root, "usr/share/mma")
    command = [sys.executable, os.path.join(root, "usr/bin/mma")]
    env = dict(os.environ, MMA_HOME=mma_home)
    subprocess.run(command + ["-G"], env=env, capture_output=True, check=True)  # groove database
    scratch = tempfile.mkdtemp(dir=work_dir)
    song = os.path.join(scratch, "song.mma")
    out = os.path.join(scratch, "song.mid")
    bars = "\n".join(f"{i + 1} {chord}" for i, chord in enumerate("C Am F G C Am Dm7 G7".split()))
    for lib_file in sorted(glob.glob(os.path.join(mma_home, "lib/*/*.mma"))):
        groove = main_groove(lib_file)
        if groove is None:
            continue
        library = os.path.basename(os.path.dirname(lib_file))
        stem = os.path.splitext(os.path.basename(lib_file))[0]
        with open(song, "w") as f:
            f.write(f"Tempo 120\nRndSeed 1\nGroove {groove}\n{bars}\n")
        if os.path.exists(out):
            os.remove(out)
        result = subprocess.run(command + ["-f", out, song], env=env, capture_output=True, text=True)
        if result.returncode or not os.path.exists(out):
            continue
        midi = mido.MidiFile(out)
        for track in midi.tracks:  # keep meta events and channel-10 (drum) messages only
            kept, pending = [], 0
            for message in track:
                pending += message.time
                if message.is_meta or getattr(message, "channel", None) == 9:
                    kept.append(message.copy(time=pending))
                    pending = 0
            track[:] = kept
        if any(getattr(m, "channel", None) == 9 for t in midi.tracks for m in t):
            buffer = io.BytesIO()
            midi.save(file=buffer)
            yield f"{library}_{stem}.mid", buffer.getvalue()


def _four_four(score):
    signatures = score.recurse().getElementsByClass("TimeSignature")
    return bool(signatures) and all(ts.ratioString in ("4/4", "2/2") for ts in signatures)


def extract_abc(source):
    def extract(corpus_dir, work_dir):
        import music21

        for folder in source.music21_folders:
            for path in sorted(glob.glob(os.path.join(corpus_dir, folder, "*.abc"))):
                stem = os.path.splitext(os.path.basename(path))[0]
                try:
                    parsed = music21.converter.parse(path, forceSource=True)
                except Exception as e:  # noqa: BLE001 - a bad transcription is skipped
                    print(f"  skipping {path}: {e}", file=sys.stderr)
                    continue
                scores = parsed.scores if isinstance(parsed, music21.stream.Opus) else [parsed]
                for index, score in enumerate(scores, start=1):
                    if not _four_four(score):
                        continue
                    number = score.metadata.number if score.metadata and score.metadata.number else index
                    data = _music21_midi(score, work_dir)
                    if data:
                        yield f"{stem}_{int(number):04d}.mid", data

    return extract


def extract_bach(corpus_dir, work_dir):
    import music21

    for path in sorted(glob.glob(os.path.join(corpus_dir, "bach", "*.mxl"))):
        try:
            score = music21.converter.parse(path)
        except Exception as e:  # noqa: BLE001
            print(f"  skipping {path}: {e}", file=sys.stderr)
            continue
        if not _four_four(score):
            continue
        for part in score.parts:
            for old in part.recurse().getElementsByClass("Instrument"):
                part.remove(old, recurse=True)
            part.insert(0, music21.instrument.Piano())
        data = _music21_midi(score, work_dir)
        if data:
            yield os.path.splitext(os.path.basename(path))[0] + ".mid", data


def _music21_midi(score, work_dir):
    path = os.path.join(work_dir, "music21_out.mid")
    try:
        score.write("midi", fp=path)
    except Exception as e:  # noqa: BLE001
        print(f"  cannot write MIDI: {e}", file=sys.stderr)
        return None
    with open(path, "rb") as f:
        return f.read()


EXTRACTORS = {
    "freedoom": extract_freedoom,
    "simutrans": _copy_files("usr/share/games/simutrans/music/*.mid"),
    "openmsx": _copy_files("usr/share/games/openttd/baseset/openmsx/*.mid"),
    "freedink": _copy_files("usr/share/games/dink/dink/Sound/*.mid"),
    "hydrogen": extract_hydrogen,
    "mma_grooves": extract_mma,
    "bach_chorales": extract_bach,
}
for _name in ("oneills1850", "ryans_mammoth", "airds_airs", "misc_folk"):
    EXTRACTORS[_name] = extract_abc(SOURCES[_name])


# -- the build -------------------------------------------------------------------


def plan(sources):
    """Lines describing what a build of `sources` fetches and writes."""
    lines = []
    debian = sorted({p for s in sources for p in s.debian_packages})
    if debian:
        lines.append(f"apt-get download {' '.join(debian)}   (Debian packages, unpacked with dpkg-deb -x)")
    if any(s.music21_folders for s in sources):
        version = f"=={FLAGS.music21_version}" if FLAGS.music21_version else ""
        lines.append(f"pip install --target <work_dir>/music21_site music21{version}   (unless importable)")
    for s in sources:
        origin = ", ".join(s.debian_packages) or "music21 corpus/" + ", corpus/".join(s.music21_folders)
        lines.append(f"  {s.name:14s} -> corpus/{s.kind}/{{train,eval}}/{s.name}/  from {origin}: {s.description}"
                     f"  [{s.license}{'; redistributable' if s.shippable else ''}]")
    return lines


def build_source(source, output, work_dir, manifest):
    if source.debian_packages:
        root = fetch_debian_packages(source.debian_packages, work_dir)
        for package in source.debian_packages:
            copyright_file = os.path.join(root, "usr/share/doc", package, "copyright")
            if os.path.exists(copyright_file):
                os.makedirs(os.path.join(output, "licenses"), exist_ok=True)
                shutil.copy(copyright_file, os.path.join(output, "licenses", f"{package}.copyright"))
    else:
        root = music21_corpus_dir(work_dir)
    for split in ("train", "eval"):  # files of an earlier build of this source
        shutil.rmtree(os.path.join(output, "corpus", source.kind, split, source.name), ignore_errors=True)
    seen = set()
    count = 0
    for name, data in EXTRACTORS[source.name](root, work_dir):
        digest = hashlib.sha1(data).hexdigest()
        if digest in seen:  # identical music under two names (e.g. the same lump in two WADs)
            continue
        seen.add(digest)
        split = "eval" if is_eval(source.name, name, FLAGS.eval_percent) else "train"
        relative = os.path.join(source.kind, split, source.name, name)
        path = os.path.join(output, "corpus", relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        manifest.append({
            "path": relative, "source": source.name, "kind": source.kind, "split": split,
            "license": source.license, "shippable": source.shippable, "sha1": digest,
        })
        count += 1
    print(f"{source.name}: {count} file(s)")


def main(argv):
    del argv
    unknown = [s for s in FLAGS.sources if s not in SOURCES]
    if unknown:
        sys.exit(f"Unknown source(s) {unknown}; known: {', '.join(SOURCES)}.")
    sources = [SOURCES[s] for s in (FLAGS.sources or SOURCES)]
    if FLAGS.dry_run:
        print(f"Would build {len(sources)} source(s) into {FLAGS.output or '<output>'}/corpus:")
        print("\n".join(plan(sources)))
        return
    if not FLAGS.output:
        sys.exit("--output is required (or use --dry-run).")
    work_dir = FLAGS.work_dir or tempfile.mkdtemp(prefix="musicvae_corpus_")
    manifest_path = os.path.join(FLAGS.output, "corpus", "manifest.json")
    entries = []
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            entries = [e for e in json.load(f)["files"] if e["source"] not in {s.name for s in sources}]
    for source in sources:
        build_source(source, FLAGS.output, work_dir, entries)
    os.makedirs(os.path.dirname(manifest_path), exist_ok=True)
    with open(manifest_path, "w") as f:
        json.dump({
            "description": "Real human-made MIDI; built by tools/build_corpus.py",
            "split_rule": f'eval iff int(sha1("<source>/<stem>")[:8],16) % 100 < {FLAGS.eval_percent}',
            "sources": {s.name: dataclasses.asdict(s) for s in SOURCES.values()},
            "files": sorted(entries, key=lambda e: e["path"]),
        }, f, indent=1)
    print(f"{len(entries)} file(s) listed in {manifest_path}")


def _parse_flags(argv):
    # `--dry-run` is accepted as well as absl's `--dry_run`.
    if any(arg in ("--help", "-h", "-?") for arg in argv[1:]):
        app.usage(shorthelp=True, writeto_stdout=True, exitcode=0)  # absl would exit with 1
    return FLAGS([arg.replace("--dry-run", "--dry_run", 1) if arg.startswith("--dry-run") else arg
                  for arg in argv])


if __name__ == "__main__":
    app.run(main, flags_parser=_parse_flags)

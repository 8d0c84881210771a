"""Human class of the demo: real scores from music21's bundled corpus rendered by FluidSynth.

A piece is transposed, given a tempo and General MIDI instruments, written as MIDI by
music21 and rendered with the ``fluidsynth`` binary and a Debian GM soundfont
(``apt-get install fluidsynth timgm6mb-soundfont``).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from veracity.errors import ConfigError, DataError

SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn", ".mid", ".midi")


def check_tools(soundfont: str) -> None:
    """Raise a ConfigError that says what to install when a demo tool is missing."""
    missing = []
    if shutil.which("fluidsynth") is None:
        missing.append("the fluidsynth binary (apt-get install fluidsynth)")
    if not Path(soundfont).is_file():
        missing.append(f"the soundfont {soundfont} (apt-get install timgm6mb-soundfont)")
    try:
        import music21  # noqa: F401
    except ImportError:
        missing.append("music21 (pip install music21)")
    if missing:
        raise ConfigError("the music demo corpus needs " + ", ".join(missing))


def list_pieces(composers: tuple[str, ...]) -> list[tuple[str, Path]]:
    """``(composer, score path)`` of every single-work score music21 ships, sorted."""
    from music21 import corpus

    out = []
    for composer in composers:
        paths = sorted(Path(p) for p in corpus.getComposer(composer))
        out += [(composer, p) for p in paths if p.suffix.lower() in SCORE_SUFFIXES]
    if not out:
        raise DataError(f"music21's corpus has no scores for {composers}")
    return out


def render_piece(
    path: Path,
    programs: list[int],
    tempo_bpm: float,
    transpose: int,
    sample_rate: int,
    soundfont: str,
    max_seconds: float,
) -> np.ndarray:
    """Mono float32 audio of the score at ``path`` (at most ``max_seconds``)."""
    from music21 import corpus, instrument, meter, tempo

    score = corpus.parse(str(path))
    # keep only the bars needed (rendering a whole mass takes seconds)
    signatures = list(score.recurse().getElementsByClass(meter.TimeSignature))
    bar = float(signatures[0].barDuration.quarterLength) if signatures else 4.0
    bars = int(np.ceil(max_seconds * tempo_bpm / 60.0 / max(bar, 0.5))) + 2
    if score.parts and score.parts[0].getElementsByClass("Measure"):
        score = score.measures(0, bars)
    if transpose:
        score = score.transpose(transpose)
    parts = list(score.parts) or [score]
    for i, part in enumerate(parts):
        for old in list(
            part.recurse().getElementsByClass((instrument.Instrument, tempo.MetronomeMark))
        ):
            old.activeSite.remove(old)
        part.insert(0, instrument.instrumentFromMidiProgram(programs[i % len(programs)]))
        part.insert(0, tempo.MetronomeMark(number=tempo_bpm))
    with tempfile.TemporaryDirectory(prefix="veracity-music-") as tmp:
        midi, wav = Path(tmp) / "piece.mid", Path(tmp) / "piece.wav"
        score.write("midi", fp=str(midi))
        cmd = ["fluidsynth", "-ni", "-g", "0.5", "-r", str(sample_rate), "-F", str(wav),
               soundfont, str(midi)]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
        if proc.returncode != 0 or not wav.is_file():
            raise DataError(f"fluidsynth failed on {path.name}: {proc.stderr[-300:]!r}")
        with sf.SoundFile(str(wav)) as handle:
            data = handle.read(
                int(max_seconds * handle.samplerate), dtype="float32", always_2d=True
            )
    return data.mean(axis=1)

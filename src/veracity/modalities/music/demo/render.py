"""Human class of the demo: real scores from music21's bundled corpus rendered by FluidSynth.

A piece is transposed, given a tempo and General MIDI instruments, written as MIDI by
music21 and rendered with the ``fluidsynth`` binary and a Debian GM soundfont
(``apt-get install fluidsynth timgm6mb-soundfont``).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from veracity.errors import ConfigError, DataError

SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn", ".mid", ".midi")
RENDER_TIMEOUT_S = 120  # wall-clock bound on one piece's render


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

    # forceSource: no pickle cache in music21's scratch dir (a file outside the run, and a
    # freeze + thaw of every parsed score, ~0.5 s a piece; the rendered bytes are the same)
    score = corpus.parse(str(path), forceSource=True)
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
        midi = Path(tmp) / "piece.mid"
        score.write("midi", fp=str(midi))
        return _synthesize(midi, sample_rate, soundfont, max_seconds)


def _synthesize(midi: Path, sample_rate: int, soundfont: str, max_seconds: float) -> np.ndarray:
    """The first ``max_seconds`` of ``midi`` rendered by fluidsynth, mono float32.

    fluidsynth streams raw 16-bit stereo to stdout and is stopped once enough is read: a
    fast render to a file runs until the MIDI ends, and some trimmed scores never end
    for a sustaining instrument (a Monteverdi madrigal on GM strings rendered 568 s of
    audio in 30 s, still going), which cost a 120 s timeout per such piece."""
    cmd = ["fluidsynth", "-ni", "-g", "0.5", "-r", str(sample_rate), "-T", "raw", "-O", "s16",
           "-E", "little", "-F", "-", soundfont, str(midi)]  # fmt: skip
    need = int(max_seconds * sample_rate) * 2 * 2  # frames x stereo x int16
    # stderr to a file: a pipe nobody reads while stdout is drained could fill and block
    errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors)
    stalled = threading.Event()

    def stop() -> None:  # a render that stalls: never a silently shorter piece
        stalled.set()
        proc.kill()

    watchdog = threading.Timer(RENDER_TIMEOUT_S, stop)
    watchdog.start()
    try:
        chunks, got = [], 0
        while got < need and (chunk := proc.stdout.read(min(1 << 16, need - got))):
            chunks.append(chunk)
            got += len(chunk)
    finally:
        watchdog.cancel()
        ended_alone = proc.poll() is not None  # before we stop it: its own exit status
        proc.kill()
        proc.wait()
        errors.seek(0)
        err = errors.read()[-300:]
        errors.close()
    if stalled.is_set():
        raise DataError(f"fluidsynth took over {RENDER_TIMEOUT_S} s on {midi.name}")
    if ended_alone and proc.returncode != 0:
        raise DataError(f"fluidsynth failed on {midi.name} ({proc.returncode}): {err!r}")
    pcm = b"".join(chunks)
    pcm = pcm[: len(pcm) // 4 * 4]
    if not pcm:
        raise DataError(f"fluidsynth rendered nothing from {midi.name}: {err!r}")
    stereo = np.frombuffer(pcm, dtype="<i2").reshape(-1, 2).astype(np.float32) / 32768.0
    return stereo.mean(axis=1)

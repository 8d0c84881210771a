"""Media processing shared by every modality: decode, mono/resample, VAD, windows, log-mel.

Pure functions on arrays; what a modality makes of them lives in its own package.
"""

from veracity.media.decode import decode_audio, load_waveform
from veracity.media.signal import make_windows, prepare_waveform, trim_silence
from veracity.media.spectral import compute_logmel

__all__ = [
    "compute_logmel",
    "decode_audio",
    "load_waveform",
    "make_windows",
    "prepare_waveform",
    "trim_silence",
]

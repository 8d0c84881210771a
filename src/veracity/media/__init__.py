"""Media processing shared by the features step and the serving transformer.

Decode (soundfile, ffmpeg fallback), mono mixdown and resampling, energy VAD, fixed-length
windows, log-mel spectrograms and hand-crafted voice features. Pure functions on arrays.
"""

from veracity.media.clip import ClipFeatures, prepare_clip
from veracity.media.decode import decode_audio, load_waveform
from veracity.media.handcrafted import HANDCRAFTED_NAMES, MONITORING_COLUMNS, extract_handcrafted
from veracity.media.signal import make_windows, prepare_waveform, trim_silence
from veracity.media.spectral import compute_logmel

__all__ = [
    "HANDCRAFTED_NAMES",
    "MONITORING_COLUMNS",
    "ClipFeatures",
    "compute_logmel",
    "decode_audio",
    "extract_handcrafted",
    "load_waveform",
    "make_windows",
    "prepare_clip",
    "prepare_waveform",
    "trim_silence",
]

"""Synthetic demo corpus in the ASVspoof 2019 LA layout (voice, attacks, channel, writer)."""

from veracity.modalities.voice.demo.attacks import ATTACKS, apply_attack
from veracity.modalities.voice.demo.corpus import generate_demo_corpus, plan_corpus, render_clip

__all__ = ["ATTACKS", "apply_attack", "generate_demo_corpus", "plan_corpus", "render_clip"]


def generate(out, size: str, seed: int, params):
    """The voice demo corpus (the modality contract's demo function)."""
    return generate_demo_corpus(out, size, seed, params.demo, params.segments.sample_rate)

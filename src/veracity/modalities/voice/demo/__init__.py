"""Synthetic demo corpus in the ASVspoof 2019 LA layout (voice, attacks, channel, writer)."""

from veracity.modalities.voice.demo.attacks import ATTACKS, apply_attack
from veracity.modalities.voice.demo.corpus import generate_demo_corpus, plan_corpus, render_clip

__all__ = ["ATTACKS", "apply_attack", "generate_demo_corpus", "plan_corpus", "render_clip"]

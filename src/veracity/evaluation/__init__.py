"""Evaluation: metrics (pure), calibration, scoring, bootstrap, plots, reports, model cards.

Submodules are imported where needed so that ``import veracity.evaluation.metrics`` stays
light (no matplotlib, no torch).
"""

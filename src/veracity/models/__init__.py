"""Detector artifacts, bundles (the serving contract) and batched inference; modality-agnostic."""

"""KFP components of the retraining pipeline: one folder per step (component.py, Dockerfile)."""

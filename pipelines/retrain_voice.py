"""The voice retraining pipeline, built at import so KFP's CLI finds it.

kfp dsl compile --py pipelines/retrain_voice.py --output pipelines/retrain-voice.yaml
"""

from pipelines.builder import build_pipeline, repo_config

retrain_voice = build_pipeline(repo_config(), "voice")

"""The music retraining pipeline, built at import so KFP's CLI finds it.

kfp dsl compile --py pipelines/retrain_music.py --output pipelines/retrain-music.yaml
"""

from pipelines.builder import build_pipeline, repo_config

retrain_music = build_pipeline(repo_config(), "music")

"""The video retraining pipeline, built at import so KFP's CLI finds it.

kfp dsl compile --py pipelines/retrain_video.py --output pipelines/retrain-video.yaml
"""

from pipelines.builder import build_pipeline, repo_config

retrain_video = build_pipeline(repo_config(), "video")

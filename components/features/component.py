"""KFP component ``features``: decode, VAD, window and featurize every clip.

Thin adapter over :func:`veracity.stages.features.run_features`. It takes the validation
output as an input only to run after validation passed (and to share its cache key).
"""

# no `from __future__ import annotations`: KFP reads the real type annotations
from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Output


def features(
    params_yaml: str,
    overrides: list,
    modality: str,
    corpus: Input[Dataset],
    validation: Input[Artifact],
    features: Output[Dataset],
):
    """Write the segment store of ``corpus`` (the modality's segments and descriptors)."""
    from pathlib import Path

    from veracity.orchestration.adapters import load_step_config, run_step
    from veracity.stages.features import run_features

    cfg = load_step_config(params_yaml, overrides)
    out = Path(features.path)
    manifest = Path(corpus.path) / "manifest.parquet"
    result = run_step("features", out, lambda: run_features(cfg, manifest, out, modality))
    features.metadata["dataset_version"] = corpus.metadata.get("dataset_version", "")
    for split, count in (result.get("counts") or {}).items():
        if isinstance(count, int | float):
            features.metadata[f"clips_{split}"] = count


def build(image: str):
    """The component, to run in ``image`` on a cluster (kfp is baked into the image)."""
    return dsl.component(features, base_image=image, install_kfp_package=False)

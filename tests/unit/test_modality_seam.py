"""The modality seam: the explicit modality dict, params per modality, bounds below chance,
the bundle contract refusing a bundle that disagrees with its detectors, and the rule that
the library never imports pipelines/ or edits sys.path."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from veracity.config import load_config
from veracity.errors import ConfigError, ModelArtifactError
from veracity.modalities import MODALITIES, load_modality


def test_modalities_are_one_explicit_dict_and_voice_has_its_roles(cfg):
    assert MODALITIES == {
        "voice": "veracity.modalities.voice",
        "music": "veracity.modalities.music",
        "video": "veracity.modalities.video",
    }
    voice = load_modality("voice")
    specs = voice.detectors(cfg.modality_params("voice"))
    assert [s.role for s in specs] == ["stage1", "aasist"]
    assert specs[1].depends_on == ("stage1",) and specs[1].required is False
    with pytest.raises(ConfigError, match="expected a modality in"):
        load_modality("smell")


@pytest.mark.parametrize(
    "key",
    [
        "modalities.voice.detectors.aasist.gate.max_eer",
        "modalities.voice.detectors.stage1.gate.max_attack_eer",
        "modalities.voice.verdict_gate.max_final_eer",
        "modalities.voice.verdict_gate.max_fake_as_human",
    ],
)
def test_a_bound_at_chance_is_refused(repo_root, key):
    with pytest.raises(ConfigError, match=key.rsplit(".", 1)[1]):
        load_config(repo_root / "params.yaml", {key: 0.5})


def test_the_window_length_is_stated_once(repo_root):
    text = (repo_root / "params.yaml").read_text()
    assert text.count("window_samples") == 1


def _tiny_voice_bundle(cfg, out: Path) -> Path:
    from veracity.modalities.voice.detectors import build_architecture
    from veracity.models.artifact import save_artifact
    from veracity.models.bundle import BundleContract, write_bundle_json

    voice = cfg.modality_params("voice")
    model = build_architecture("stage1", voice)
    window = voice.segments.window_samples
    save_artifact(
        out / "stage1", model, "stage1", modality="voice", role="stage1",
        extra={"input_shapes": {"waveform": [window]}},
    )  # fmt: skip
    (out / "stage1" / "calibration.json").write_text(
        json.dumps({"temperature": 1.0, "threshold": 0.5})
    )
    contract = BundleContract(
        name="veracity-voice", modality="voice", dataset_version="test", roles=["stage1"],
        detectors={"stage1": {"dir": "stage1", "architecture": "stage1", "inputs": ["waveform"],
                              "input_shapes": {"waveform": [window]}}},
        params=cfg.to_dict()["modalities"]["voice"], absent={"aasist": "not trained"},
    )  # fmt: skip
    write_bundle_json(out, contract)
    return out


def test_a_bundle_whose_window_differs_from_its_detector_refuses_to_load(cfg, tmp_path):
    from veracity.models.bundle import load_bundle
    from veracity.serving.predictor import DetectorPredictor

    bundle = _tiny_voice_bundle(cfg, tmp_path / "bundle")
    contract, models = load_bundle(bundle)
    assert contract.roles == ["stage1"] and set(models) == {"stage1"}

    data = json.loads((bundle / "bundle.json").read_text())
    data["detectors"]["stage1"]["input_shapes"]["waveform"] = [64000]
    (bundle / "bundle.json").write_text(json.dumps(data))
    with pytest.raises(ModelArtifactError, match=r"bundle.json \[64000\], trained on \[64600\]"):
        DetectorPredictor("veracity-voice", bundle, cfg).load()


def test_a_server_refuses_a_bundle_of_another_modality(cfg, tmp_path):
    from veracity.serving.transformer import VerdictTransformer

    bundle = _tiny_voice_bundle(cfg, tmp_path / "bundle")
    transformer = VerdictTransformer("veracity-music", "unused:0", cfg, bundle, modality="music")
    with pytest.raises(ModelArtifactError, match="serves music, the bundle .* is a voice bundle"):
        transformer.load()


def test_library_never_imports_pipelines_or_touches_sys_path(repo_root):
    offenders = []
    for path in (repo_root / "src" / "veracity").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "pipelines" or n.startswith("pipelines.") for n in names):
                offenders.append(f"{path}: imports {names}")
            if isinstance(node, ast.Attribute) and node.attr == "path":
                if isinstance(node.value, ast.Name) and node.value.id == "sys":
                    offenders.append(f"{path}:{node.lineno}: sys.path")
    assert offenders == []

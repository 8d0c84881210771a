"""`dvc repro` and `veracity pipeline run` call the same library functions with the same params.

dvc.yaml runs `veracity <step>` commands; their CLI handlers (cli/steps.py) and the KFP
components must both call ``veracity.stages.<step>.run_<step>``, both build ``cfg`` from
params.yaml + overrides the same way, and each DVC stage must list every params section
its step reads (else `dvc repro` would miss a change).
"""

from __future__ import annotations

import ast
import inspect
import re
import shlex
from pathlib import Path

import pytest
import yaml

from veracity.cli import build_parser
from veracity.config import Config, load_config
from veracity.orchestration.adapters import STEP_NAMES, load_step_config

REPO = Path(__file__).resolve().parents[2]
SECTIONS = {f.alias or name for name, f in Config.model_fields.items()}
ALIASES = {name: f.alias for name, f in Config.model_fields.items() if f.alias}


def _stages() -> list[tuple[str, dict]]:
    """(stage name, stage) with ``foreach`` expanded and ${...} resolved from params.yaml.

    A ``foreach`` over a mapping (``${modalities}``, ``${modalities.voice.detectors}``)
    gives ``${key}`` and ``${item}`` like DVC; the expanded stage is named ``stage@key``.
    """
    params = yaml.safe_load((REPO / "params.yaml").read_text())

    def lookup(path: str, node=None):
        node = params if node is None else node
        for part in path.split("."):
            node = node[part]
        return node

    def resolve(text: str, key: str | None = None, item=None) -> str:
        def value(match):
            name = match.group(1)
            if name == "key":
                return key
            if name == "item":
                return str(item)
            if name.startswith("item."):
                return str(lookup(name[len("item.") :], item))
            return str(lookup(name))

        return re.sub(r"\$\{([^}]+)\}", value, text)

    out = []
    for name, stage in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"].items():
        if "foreach" in stage:
            each = stage["foreach"]
            if isinstance(each, str):
                each = lookup(re.fullmatch(r"\$\{([^}]+)\}", each).group(1))
            pairs = each.items() if isinstance(each, dict) else ((str(i), i) for i in each)
            for key, item in pairs:
                body = yaml.safe_load(resolve(yaml.safe_dump(stage["do"]), key, item))
                out.append((f"{name}@{key}", body))
        else:
            out.append((name, yaml.safe_load(resolve(yaml.safe_dump(stage)))))
    return out


def _step(stage_name: str) -> str:
    """The step a stage runs: ``train-voice@stage1`` -> ``train``, ``ingest@voice`` -> ``ingest``."""
    return stage_name.split("@")[0].split("-")[0]


def _imported_runs(func) -> set[tuple[str, str]]:
    """(module, name) of ``from veracity.stages.X import run_X`` inside ``func``."""
    tree = ast.parse(inspect.getsource(func).lstrip())
    return {
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("veracity.stages.")
        for alias in node.names
    }


def _component_runs(step: str) -> set[tuple[str, str]]:
    tree = ast.parse((REPO / "components" / step / "component.py").read_text())
    func = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == step)
    return {
        (node.module, alias.name)
        for node in ast.walk(func)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("veracity.stages.")
        for alias in node.names
    }


def test_every_step_has_a_stage_and_a_component():
    stages = _stages()
    steps = {_step(name) for name, _ in stages}
    assert steps == set(STEP_NAMES)
    # every modality gets every step; its detector roles each get train and calibrate
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    names = {name for name, _ in stages}
    for modality, section in params["modalities"].items():
        assert {f"{s}@{modality}" for s in ("ingest", "validate", "features")} <= names
        assert {f"{s}-{modality}" for s in ("evaluate", "gate")} <= names
        for role, det in section["detectors"].items():
            # a role built on others trains in the `-on` stage, after them
            train = f"train-{modality}-on@{role}" if det.get("trains_on") else None
            assert {train or f"train-{modality}@{role}", f"calibrate-{modality}@{role}"} <= names
            if train:
                stage = dict(stages)[train]
                for up in det["trains_on"]:
                    assert f"--upstream models/{modality}/trained/{up}" in stage["cmd"]
                    assert f"models/{modality}/trained/{up}" in stage["deps"]
            else:
                assert "--upstream" not in dict(stages)[f"train-{modality}@{role}"]["cmd"]


@pytest.mark.parametrize("name,stage", _stages(), ids=lambda v: v if isinstance(v, str) else "")
def test_stage_and_component_call_the_same_step_function(name, stage):
    step = _step(name)
    argv = shlex.split(stage["cmd"])
    assert argv[:2] == ["veracity", step], f"stage {name} must run `veracity {step}`"
    args = build_parser().parse_args(argv[1:])  # the flags in dvc.yaml are valid CLI flags
    expected = {(f"veracity.stages.{step}", f"run_{step}")}
    assert _imported_runs(args.func) == expected
    assert _component_runs(step) == expected


@pytest.mark.parametrize("step", STEP_NAMES)
def test_stage_params_cover_the_sections_the_step_reads(step):
    source = REPO / "src" / "veracity" / "stages" / f"{step}.py"
    assert source.is_file(), f"{source} is missing"
    tree = ast.parse(source.read_text())
    read = {
        ALIASES.get(node.attr, node.attr)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "cfg"
        and ALIASES.get(node.attr, node.attr) in SECTIONS
    }
    # `modality` is only the fallback when no --modality is given: every dvc.yaml stage
    # names its modality (on the command line, or through the features/evaluation it reads)
    read.discard("modality")
    for name, stage in _stages():
        if _step(name) == step:
            declared = {p.split(".")[0] for p in stage["params"]}
            assert read <= declared, (
                f"stage {name} misses params sections {sorted(read - declared)}"
            )


def test_cli_and_component_build_the_same_cfg():
    overrides = [
        "modalities.voice.detectors.aasist.training.epochs=1",
        "modalities.voice.detectors.aasist.gate.max_eer=0.45",
        "gate.max_eer_regression=0.05",
    ]
    text = (REPO / "params.yaml").read_text()
    assert load_step_config(text, overrides) == load_config(REPO / "params.yaml", overrides)


def _imported_veracity_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("veracity."):
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("veracity.")}
    return out


def test_step_scoped_sections_are_read_by_that_step_only():
    from veracity.orchestration.client import STEP_SCOPED_SECTIONS, split_overrides

    src = REPO / "src"
    stages = src / "veracity" / "stages"
    for section in STEP_SCOPED_SECTIONS:
        pattern = re.compile(rf"\bcfg\.{section}_?\b")
        # library modules (outside the steps) that read the section, e.g. data/validation.py
        helpers = {
            ".".join(p.relative_to(src).with_suffix("").parts)
            for p in (src / "veracity").rglob("*.py")
            if stages not in p.parents and pattern.search(p.read_text())
        }
        readers = [
            step
            for step in STEP_NAMES
            if (stages / f"{step}.py").is_file()
            and (
                pattern.search((stages / f"{step}.py").read_text())
                or _imported_veracity_modules(stages / f"{step}.py") & helpers
            )
        ]
        assert readers == [section], f"params section {section} is read by {readers}"
    split = split_overrides(
        ["gate.max_eer_regression=0.1", "validate.min_duration_s=1", "training.seed=1",
         "modalities.voice.detectors.stage1.gate.max_eer=0.2",
         "modalities.music.verdict_gate.max_inconclusive=0.5",
         "modalities.voice.detectors.stage1.training.epochs=2",
         "modalities.voice.detectors.stage1.gateway=1"]
    )  # fmt: skip
    assert split == {
        "overrides": [
            "training.seed=1",
            "modalities.voice.detectors.stage1.training.epochs=2",
            "modalities.voice.detectors.stage1.gateway=1",
        ],
        "validate_overrides": ["validate.min_duration_s=1"],
        "gate_overrides": [
            "gate.max_eer_regression=0.1",
            "modalities.voice.detectors.stage1.gate.max_eer=0.2",
            "modalities.music.verdict_gate.max_inconclusive=0.5",
        ],
    }


def test_modality_gate_bounds_are_read_by_the_gate_step_only():
    # their overrides go to the gate alone (GATE_SCOPED_KEYS): no other step may read them
    pattern = re.compile(r"\.verdict_gate\b|\]\.gate\b|\bdetectors\.\w+\.gate\b")
    readers = sorted(
        p.relative_to(REPO / "src").as_posix()
        for p in (REPO / "src" / "veracity").rglob("*.py")
        if pattern.search(
            "\n".join(
                line for line in p.read_text().splitlines() if not line.lstrip().startswith("#")
            )
        )
    )
    assert readers == ["veracity/stages/gate.py"], readers

"""Build and compile the ``retrain`` pipeline from the repository's pipelines/retrain.py."""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

from veracity.config import Config
from veracity.errors import ConfigError

log = logging.getLogger(__name__)

PIPELINE_FILE = Path("pipelines") / "retrain.py"
COMPILED_FILE = Path("pipelines") / "retrain.yaml"


def find_repo_root(start: Path | None = None) -> Path:
    """The directory holding pipelines/retrain.py and components/ (cwd or a parent)."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / PIPELINE_FILE).is_file() and (candidate / "components").is_dir():
            return candidate
    raise ConfigError(
        f"no {PIPELINE_FILE} with components/ beside it in {here} or its parents; "
        "run from the Veracity repository root"
    )


def build_pipeline(cfg: Config, repo_root: Path | None = None):
    """The ``@dsl.pipeline`` function, with images from ``cfg.pipeline``."""
    root = str(repo_root or find_repo_root())
    if root not in sys.path:  # pipelines/ and components/ are top-level packages of the repo
        sys.path.insert(0, root)
    module = importlib.import_module("pipelines.retrain")
    return module.build_pipeline(cfg.pipeline)


def compile_pipeline(cfg: Config, out: Path | None = None, repo_root: Path | None = None) -> Path:
    """Compile the pipeline to IR YAML (default pipelines/retrain.yaml); deterministic."""
    from kfp import compiler

    root = repo_root or find_repo_root()
    out = Path(out) if out else root / COMPILED_FILE
    if out.suffix not in (".yaml", ".yml"):
        raise ConfigError(f"compile target {out} must end in .yaml (KFP refuses .json packages)")
    out.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(build_pipeline(cfg, root), package_path=str(out))
    log.info("compiled %s", out)
    return out

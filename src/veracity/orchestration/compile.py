"""Compiling a modality's pipeline with KFP's own CLI (the library never imports pipelines/).

``pipelines/retrain_<modality>.py`` builds its pipeline at import; ``kfp dsl compile`` turns
it into ``pipelines/retrain-<modality>.yaml`` (checked in, compared by the golden tests).
The local runner executes that compiled YAML, exactly what a cluster runs.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from veracity.errors import ConfigError

log = logging.getLogger(__name__)

PIPELINES_DIR = "pipelines"


def pipeline_source(root: Path, modality: str) -> Path:
    """``pipelines/retrain_<modality>.py`` under ``root``."""
    return Path(root) / PIPELINES_DIR / f"retrain_{modality}.py"


def compiled_path(root: Path, modality: str) -> Path:
    """``pipelines/retrain-<modality>.yaml`` under ``root``."""
    return Path(root) / PIPELINES_DIR / f"retrain-{modality}.yaml"


def find_repo_root(start: Path | None = None) -> Path:
    """The directory holding pipelines/ and components/ (cwd or a parent)."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / PIPELINES_DIR / "builder.py").is_file() and (
            candidate / "components"
        ).is_dir():
            return candidate
    raise ConfigError(
        f"no {PIPELINES_DIR}/builder.py with components/ beside it in {here} or its parents; "
        "run from the Veracity repository root"
    )


def compile_pipeline(modality: str, out: Path | None = None, root: Path | None = None) -> Path:
    """Run ``kfp dsl compile --py pipelines/retrain_<m>.py --output OUT``; returns ``out``."""
    root = root or find_repo_root()
    source = pipeline_source(root, modality)
    if not source.is_file():
        raise ConfigError(
            f"no pipeline for modality {modality!r}: {source} does not exist; write it like "
            "pipelines/retrain_voice.py (docs/architecture.md, adding a modality)"
        )
    out = Path(out) if out else compiled_path(root, modality)
    if out.suffix not in (".yaml", ".yml"):
        raise ConfigError(f"compile target {out} must end in .yaml (KFP refuses .json packages)")
    out.parent.mkdir(parents=True, exist_ok=True)
    # kfp.cli.__main__ has no `if __name__ == "__main__"` block: `python -m` it does nothing
    cmd = [sys.executable, "-c", "from kfp.cli.__main__ import main; main()"]
    cmd += ["dsl", "compile", "--py", str(source), "--output", str(out)]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if done.returncode != 0 or not out.is_file():
        raise ConfigError(
            f"`kfp dsl compile --py {source}` failed: "
            f"{(done.stderr.strip() or 'no output written')[-1500:]}"
        )
    log.info("compiled %s", out)
    return out

"""A detector set: one calibrated model artifact directory per role.

What a pipeline hands from a role loop to the next loop, to evaluate and to the gate
(KFP cannot feed a collected list of artifacts into another loop, so the set travels as
one directory); the CLI steps accept it too, like a folder of artifact dirs or a bundle.
Light on purpose (no torch): the pipeline's small components import it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from veracity.errors import InputError
from veracity.models.artifact import read_json_object


def expand_model_dirs(model_dirs: list[Path]) -> list[Path]:
    """Artifact dirs as given; a bundle dir (``bundle.json``) expands to its served
    artifacts, and a folder of artifact dirs (``models/voice/calibrated``) to each of them."""
    from veracity.models.bundle import BUNDLE_FILE, read_bundle
    from veracity.storage import safe_join

    out: list[Path] = []
    for d in map(Path, model_dirs):
        if (d / BUNDLE_FILE).is_file():
            contract = read_bundle(d)
            out.extend(
                safe_join(d, str(contract.detectors[r].get("dir", r))) for r in contract.roles
            )
        elif not (d / "config.json").is_file() and d.is_dir():
            out.extend(sorted(p for p in d.iterdir() if (p / "config.json").is_file()))
        else:
            out.append(d)
    if not out:
        raise InputError("expected at least one --model directory, got none")
    return out


def collect_detectors(model_dirs: list[str | Path], out: str | Path) -> list[str]:
    """Copy calibrated model artifacts into one detector set ``out/<role>/`` (what a
    pipeline hands from its role loops to the next loop, evaluate and the gate); a
    detector set among ``model_dirs`` is merged in. Returns the roles, sorted."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    roles = []
    for src in expand_model_dirs([Path(d) for d in model_dirs]):
        config = read_json_object(src / "config.json", "model config", "re-run the train step")
        role = str(config.get("role") or "")
        if not role or Path(role).name != role or role in roles:
            raise InputError(
                f"expected a model artifact with a unique plain role in {src}, got "
                f"{role!r} (roles so far: {roles}); each role's models must come once"
            )
        shutil.copytree(src, out / role)
        roles.append(role)
    return sorted(roles)

"""DVC adapter: find or create the repository around a data dir, configure its remote,
``dvc add`` a directory (its md5 is the dataset version) and push or pull it.

Uses DVC's Python API (``dvc.repo.Repo``). Remote credentials come from DVC's own
resolution (AWS_* environment, ~/.aws); only the endpoint is taken from params.
"""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from veracity.config import StorageConfig
from veracity.errors import StorageError
from veracity.storage.paths import is_s3_uri

log = logging.getLogger(__name__)

# Step reports live in the data dir but describe a version of it: DVC must not hash them.
REPORT_PATTERNS = ("ingest_report.json", "ingest.json")


def find_dvc_root(path: str | Path) -> Path | None:
    """The nearest directory at or above ``path`` holding ``.dvc/``, or None."""
    path = Path(path).resolve()
    for candidate in (path, *path.parents):
        if (candidate / ".dvc").is_dir():
            return candidate
    return None


def _find_git_root(path: Path) -> Path | None:
    for candidate in (path, *path.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def ensure_dvc_repo(data_dir: str | Path) -> Path:
    """Root of the DVC repository that contains ``data_dir``; ``dvc init`` one when none
    exists (at the enclosing git root, or with ``--no-scm`` beside ``data_dir``)."""
    from dvc.repo import Repo

    parent = Path(data_dir).resolve().parent
    root = find_dvc_root(parent)
    if root is not None:
        return root
    git_root = _find_git_root(parent)
    root = git_root or parent
    log.info("no DVC repository around %s: running dvc init in %s", data_dir, root)
    try:
        Repo.init(str(root), no_scm=git_root is None)
    except Exception as exc:
        raise StorageError(f"dvc init in {root} failed: {exc}") from exc
    return root


def ensure_dvcignore(root: Path, patterns: tuple[str, ...] = REPORT_PATTERNS) -> None:
    """Append ``patterns`` to ``root/.dvcignore`` when they are not there yet."""
    path = root / ".dvcignore"
    lines = path.read_text().splitlines() if path.exists() else []
    missing = [p for p in patterns if p not in lines]
    if missing:
        header = ["# step reports describe a dataset version; they are not part of it"]
        path.write_text("\n".join(lines + header + missing) + "\n")


def configure_remote(root: Path, name: str, url: str, storage_cfg: StorageConfig) -> str:
    """Set remote ``name`` -> ``url`` as the default remote of the repository at ``root``.

    A relative local URL is taken relative to ``root``; an s3:// URL gets the endpoint of
    ``storage.s3_endpoint_url`` when one is set. Returns the URL as configured.
    """
    from dvc.repo import Repo

    remote: dict[str, str] = {"url": url}
    if is_s3_uri(url):
        if storage_cfg.s3_endpoint_url:
            remote["endpointurl"] = storage_cfg.s3_endpoint_url
        if storage_cfg.s3_region:
            remote["region"] = storage_cfg.s3_region
    elif "://" not in url:
        remote["url"] = str((root / url).resolve())
    try:
        repo = Repo(str(root))
        with repo.config.edit() as conf:
            conf["remote"][name] = remote
            conf["core"]["remote"] = name
        repo.close()
    except Exception as exc:
        raise StorageError(f"configuring DVC remote {name!r} -> {url} failed: {exc}") from exc
    return remote["url"]


def read_dvc_md5(dvc_file: str | Path) -> str:
    """The md5 of the single output recorded in a ``.dvc`` file (``<hash>.dir`` for dirs)."""
    try:
        data = yaml.safe_load(Path(dvc_file).read_text())
        return str(data["outs"][0]["md5"])
    except (OSError, KeyError, IndexError, TypeError, yaml.YAMLError) as exc:
        raise StorageError(f"cannot read the md5 from {dvc_file}: {exc}") from exc


def dvc_add(root: Path, data_dir: Path) -> str:
    """``dvc add data_dir``; returns the directory's DVC md5 (the dataset version)."""
    from dvc.repo import Repo

    data_dir = Path(data_dir).resolve()
    try:
        with Repo(str(root)) as repo:
            repo.add([str(data_dir)])
    except Exception as exc:
        raise StorageError(f"dvc add {data_dir} failed: {exc}") from exc
    return read_dvc_md5(data_dir.with_name(data_dir.name + ".dvc"))


def dvc_push(root: Path, data_dir: Path, remote: str) -> int:
    """``dvc push`` the data of ``data_dir.dvc`` to ``remote``; returns files transferred."""
    from dvc.repo import Repo

    target = str(Path(data_dir).resolve().with_name(Path(data_dir).name + ".dvc"))
    try:
        with Repo(str(root)) as repo:
            return int(repo.push(targets=[target], remote=remote))
    except Exception as exc:
        raise StorageError(
            f"dvc push to remote {remote!r} failed: {exc}; check ingest.dvc_remote_url and, "
            "for S3, storage.s3_endpoint_url and the AWS_* credentials"
        ) from exc


def dvc_pull(root: Path, dvc_file: Path, remote: str | None = None) -> None:
    """``dvc pull`` the output of ``dvc_file`` (fetch from the remote, then check out)."""
    from dvc.repo import Repo

    try:
        with Repo(str(root)) as repo:
            repo.pull(targets=[str(Path(dvc_file).resolve())], remote=remote)
    except Exception as exc:
        raise StorageError(f"dvc pull {dvc_file} failed: {exc}") from exc

"""The drift demo: clean clips, then the same clips shifted, through a running transformer,
and a drift report for each window (called by ``make demo`` through ``veracity demo``).

The transformer logs one payload row per verdict into ``monitoring.sink``; the demo waits
until those rows are written, then reports the clean window (expected: no drift) and the
shifted window (expected: drift in the noise/codec/band-limit sensitive features).
"""

from __future__ import annotations

import importlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from veracity.config import Config
from veracity.errors import ConfigError, NotEnoughDataError, VeracityError
from veracity.media.shifts import wav_bytes
from veracity.monitoring.drift import DriftSummary, select_window
from veracity.monitoring.job import REPORT_HTML, run_drift_job
from veracity.monitoring.sinks import read_payloads

log = logging.getLogger(__name__)


@dataclass
class DriftDemoResult:
    """What the demo sent and what the two reports found."""

    sent: dict[str, int]
    failed: dict[str, int]
    clean: DriftSummary | None
    shifted: DriftSummary | None
    html: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "notes": self.notes,
            "html": {k: str(v) for k, v in self.html.items()},
            "clean": self.clean.to_dict() if self.clean else None,
            "shifted": self.shifted.to_dict() if self.shifted else None,
        }


def shifted_upload(
    path: Path, shift: str, modality, params, rng: np.random.Generator, out_dir: Path
) -> Path:
    """Write the ``shift``-degraded version of the clip at ``path`` as a WAV upload (the
    modality's own deployment shift, e.g. voice's telephone band or music's low-bitrate MP3:
    what the shift did stays in the samples and the sample rate)."""
    wave, sr = modality.shift(shift, modality.decode(Path(path), params), params, rng)
    target = out_dir / f"{Path(path).stem}-{shift}.wav"
    target.write_bytes(wav_bytes(np.asarray(wave), int(sr)))
    return target


def _send(paths: list[Path], url: str, cfg: Config, model_name: str) -> tuple[int, int]:
    from veracity.serving.client import predict_files

    answers = predict_files(
        paths, url, model_name, cfg.serving.request_timeout_s,
        concurrency=cfg.serving.client_concurrency, desc="send clips",
    )  # fmt: skip
    failed = 0
    for path, answer in zip(paths, answers, strict=True):
        if isinstance(answer, Exception):  # one bad clip must not stop the demo
            failed += 1
            log.warning("clip %s not scored: %s", path.name, answer)
    return len(paths) - failed, failed


def _wait_for_rows(cfg: Config, payloads: str, start: datetime, expected: int) -> int:
    """Poll the payload log until ``expected`` rows since ``start`` are there (or time out)."""
    deadline = time.monotonic() + 5 * cfg.monitoring.flush_interval_s + 30.0
    found = 0
    while time.monotonic() < deadline:
        try:
            found = len(
                select_window(
                    read_payloads(payloads, cfg.storage, since=start), start, datetime.now(UTC)
                )
            )
        except VeracityError:
            found = 0  # the sink directory may not exist before the first flush
        if found >= expected:
            break
        time.sleep(0.5)
    return found


def _report(cfg, out, payloads, reference, start, end, notes, modality) -> DriftSummary | None:
    try:
        return run_drift_job(
            cfg,
            out,
            payloads=payloads,
            reference=reference,
            start=start,
            end=end,
            since=f"{max(1, int((end - start).total_seconds()))}s",
            mlflow_log=False,
            modality=modality,
        )
    except NotEnoughDataError as exc:
        notes.append(f"{out.name}: {exc}")
        log.warning("%s", exc)
        return None


def run_drift_demo(
    cfg: Config,
    reference: str | Path,
    transformer_url: str,
    clips: list[Path],
    out: Path,
    *,
    model_name: str,
    modality: str | None = None,
    payloads: str | None = None,
) -> DriftDemoResult:
    """Send ``clips`` clean, then shifted (the modality's ``robustness`` shifts in turn:
    voice's noise, codec, telephone band, ...; music's MP3, resampling, noise), through the
    transformer at ``transformer_url``; write drift reports of both windows under
    ``out/clean`` and ``out/shifted``.

    ``reference`` is a bundle directory or a ``reference_profile.parquet``; ``payloads`` the
    sink the transformer logs to (default ``monitoring.sink``).
    """
    out = Path(out)
    uploads = out / "shifted_uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    payloads = payloads or cfg.monitoring.sink
    rng = np.random.default_rng(cfg.seed)
    notes: list[str] = []
    from veracity.modalities import load_modality

    name = modality or cfg.modality
    mod, params = load_modality(name, cfg.modality_packages), cfg.modality_params(name)
    shifts = list(params.robustness)
    if not shifts:
        raise ConfigError(
            f"modalities.{name}.robustness lists no deployment shift; the drift demo's shifted "
            "window cycles through them: name at least one (see the modality's shifts.py)"
        )
    # While the clean clips are in flight (this thread mostly waits on the servers), one
    # helper thread writes the shifted uploads and imports Evidently for the reports
    # (seconds of imports); same clips, same seeded shifts as when done one after the other.
    with ThreadPoolExecutor(max_workers=1) as helper:
        shifted_future = helper.submit(
            lambda: [
                shifted_upload(Path(p), shifts[i % len(shifts)], mod, params, rng, uploads)
                for i, p in enumerate(clips)
            ]
        )
        helper.submit(importlib.import_module, "evidently.presets")
        t0 = datetime.now(UTC)
        clean_ok, clean_failed = _send(list(clips), transformer_url, cfg, model_name)
        t1 = datetime.now(UTC)
        shift_ok, shift_failed = _send(shifted_future.result(), transformer_url, cfg, model_name)
    t2 = datetime.now(UTC)
    found = _wait_for_rows(cfg, payloads, t0, clean_ok + shift_ok)
    if found < clean_ok + shift_ok:
        notes.append(
            f"only {found} of {clean_ok + shift_ok} payload rows reached {payloads}; "
            "is the transformer logging to the same monitoring.sink?"
        )
    clean = _report(cfg, out / "clean", payloads, str(reference), t0, t1, notes, modality)
    shifted = _report(cfg, out / "shifted", payloads, str(reference), t1, t2, notes, modality)
    html = {
        name: out / name / REPORT_HTML for name, s in (("clean", clean), ("shifted", shifted)) if s
    }
    return DriftDemoResult(
        sent={"clean": clean_ok, "shifted": shift_ok},
        failed={"clean": clean_failed, "shifted": shift_failed},
        clean=clean,
        shifted=shifted,
        html=html,
        notes=notes,
    )

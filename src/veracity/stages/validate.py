"""Validate step: run the Great Expectations suite over a manifest and report.

Writes ``out/validation.json`` (every expectation and its verdict), ``out/validation.md``
(readable) and ``out/validate.json`` (the step result), then raises
:class:`ValidationFailedError` naming each failed expectation when any failed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from veracity.config import Config
from veracity.data.manifest import read_manifest
from veracity.data.validation import CheckOutcome, run_checks
from veracity.errors import ValidationFailedError

log = logging.getLogger(__name__)


@dataclass
class ValidationResult:
    """What the validate step found (also written as ``<out>/validate.json``)."""

    manifest: str
    out: str
    success: bool
    n_rows: int
    n_expectations: int
    n_failed: int
    failed: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def render_markdown(manifest: Path, n_rows: int, outcomes: list[CheckOutcome]) -> str:
    """A readable report: verdict, failed expectations with offending values, all checks."""
    failed = [o for o in outcomes if not o.success]
    verdict = "PASSED" if not failed else f"FAILED ({len(failed)} of {len(outcomes)} expectations)"
    lines = [
        "# Data validation report",
        "",
        f"- manifest: `{manifest}`",
        f"- rows: {n_rows}",
        f"- verdict: **{verdict}**",
        "",
    ]
    if failed:
        lines += ["## Failed expectations", ""]
        for o in failed:
            lines.append(
                f"- **{o.table}.{o.column or '*'}**: `{o.description}` "
                f"({o.unexpected_count} unexpected)"
            )
            lines += [f"  - `{value}`" for value in o.offending]
        lines.append("")
    lines += [
        "## All expectations",
        "",
        "| table | column | expectation | result |",
        "|---|---|---|---|",
    ]
    for o in outcomes:
        mark = "pass" if o.success else "**FAIL**"
        lines.append(f"| {o.table} | {o.column or ''} | `{o.description}` | {mark} |")
    return "\n".join(lines) + "\n"


def failure_message(manifest: Path, outcomes: list[CheckOutcome], report: Path) -> str:
    """One message naming each failed expectation, its column and offending values."""
    failed = [o for o in outcomes if not o.success]
    parts = [
        f"{o.table}.{o.column or '*'} {o.expectation}"
        + (f" (e.g. {'; '.join(o.offending)})" if o.offending else "")
        for o in failed
    ]
    return (
        f"manifest {manifest} failed {len(failed)} of {len(outcomes)} expectations: "
        + " | ".join(parts)
        + f". Fix the corpus (or params validate.*) and re-run ingest; details in {report}"
    )


def run_validate(
    cfg: Config, manifest: Path, out: Path, modality: str | None = None
) -> ValidationResult:
    """Validate ``manifest`` (a parquet file or a corpus dir holding one) into ``out``
    against the shared rules and those of ``modality`` (default: params)."""
    from veracity.data.validation import ValidationRules

    manifest = Path(manifest)
    df = read_manifest(manifest)
    outcomes = run_checks(df, ValidationRules.from_config(cfg, modality or cfg.modality))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    failed = [o for o in outcomes if not o.success]
    report = {
        "manifest": str(manifest),
        "n_rows": len(df),
        "success": not failed,
        "expectations": [o.to_dict() for o in outcomes],
    }
    (out / "validation.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "validation.md").write_text(render_markdown(manifest, len(df), outcomes))
    result = ValidationResult(
        manifest=str(manifest),
        out=str(out),
        success=not failed,
        n_rows=len(df),
        n_expectations=len(outcomes),
        n_failed=len(failed),
        failed=[o.to_dict() for o in failed],
    )
    (out / "validate.json").write_text(json.dumps(result.to_dict(), indent=2, default=str) + "\n")
    if failed:
        raise ValidationFailedError(failure_message(manifest, outcomes, out / "validation.md"))
    log.info("manifest %s passed %d expectations", manifest, len(outcomes))
    return result

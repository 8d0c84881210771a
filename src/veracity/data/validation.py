"""Data-validation suite of a manifest, run with Great Expectations (in memory).

GX has no cross-split expectations, so leakage checks validate derived tables: one row
per sha256 (and per group) with the number of splits it appears in, expected to be 1;
one row per split with its size and bonafide share, expected within bounds.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import pandas as pd

from veracity.data.manifest import LABELS, MANIFEST_COLUMNS, SPLITS

log = logging.getLogger(__name__)

NOT_NULL = ("utt_id", "path", "sha256", "label", "group", "attack", "split")


@dataclass(frozen=True)
class ValidationRules:
    """What a manifest is checked against: the shared ``validate`` section plus the
    modality's own rules (``modalities.<m>.validate``)."""

    modality: str
    allowed_sample_rates: list[int]
    min_duration_s: float
    max_duration_s: float
    attack_id_pattern: str
    min_rows_per_split: dict[str, int]
    bonafide_fraction_bounds: tuple[float, float]
    max_offending_values: int

    @classmethod
    def from_config(cls, cfg, modality: str) -> ValidationRules:
        own = cfg.modality_params(modality).validate_
        shared = cfg.validate_
        return cls(
            modality=modality,
            allowed_sample_rates=list(own.allowed_sample_rates),
            min_duration_s=own.min_duration_s,
            max_duration_s=own.max_duration_s,
            attack_id_pattern=own.attack_id_pattern,
            min_rows_per_split=dict(shared.min_rows_per_split),
            bonafide_fraction_bounds=tuple(shared.bonafide_fraction_bounds),
            max_offending_values=shared.max_offending_values,
        )


@dataclass(frozen=True)
class CheckOutcome:
    """One expectation's verdict, in words a data owner can act on."""

    table: str
    expectation: str
    column: str | None
    success: bool
    description: str
    unexpected_count: int
    offending: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


def _split_table(df: pd.DataFrame, key: str) -> pd.DataFrame:
    """One row per ``key`` value: the splits it appears in and how many."""
    grouped = df.groupby(key, dropna=False)["split"]
    return pd.DataFrame(
        {
            key: grouped.first().index.astype(str),
            "splits": grouped.agg(lambda s: ",".join(sorted(set(map(str, s))))).to_numpy(),
            "n_splits": grouped.nunique().to_numpy(),
        }
    )


def _split_stats(df: pd.DataFrame, cfg: ValidationRules) -> pd.DataFrame:
    rows = []
    for split, part in df.groupby("split"):
        rows.append(
            {
                "split": str(split),
                "n_rows": len(part),
                "min_rows": int(cfg.min_rows_per_split.get(str(split), 1)),
                "bonafide_fraction": float((part["label"] == "bonafide").mean()),
            }
        )
    return pd.DataFrame(rows, columns=["split", "n_rows", "min_rows", "bonafide_fraction"])


def build_checks(df: pd.DataFrame, cfg: ValidationRules) -> list[tuple[str, pd.DataFrame, list]]:
    """The tables to validate and their expectations: ``[(name, frame, expectations)]``."""
    import great_expectations.expectations as gxe

    present = set(df.columns)
    manifest = [gxe.ExpectColumnToExist(column=c) for c in MANIFEST_COLUMNS]

    def has(*cols: str) -> bool:
        return set(cols) <= present

    manifest += [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in NOT_NULL if has(c)]
    if has("utt_id"):
        manifest.append(gxe.ExpectColumnValuesToBeUnique(column="utt_id"))
    for column, allowed in (
        ("label", LABELS),
        ("split", SPLITS),
        ("modality", [cfg.modality]),
        ("sample_rate", cfg.allowed_sample_rates),
    ):
        if has(column):
            manifest.append(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(allowed)))
    if has("split"):
        manifest.append(
            gxe.ExpectColumnDistinctValuesToContainSet(column="split", value_set=list(SPLITS))
        )
    if has("duration_s"):
        manifest.append(
            gxe.ExpectColumnValuesToBeBetween(
                column="duration_s", min_value=cfg.min_duration_s, max_value=cfg.max_duration_s
            )
        )
    if has("channels"):
        manifest.append(gxe.ExpectColumnValuesToBeBetween(column="channels", min_value=1))
    if has("attack"):
        manifest.append(
            gxe.ExpectColumnValuesToMatchRegex(column="attack", regex=cfg.attack_id_pattern)
        )
    if has("sha256"):
        manifest.append(
            gxe.ExpectColumnValuesToMatchRegex(column="sha256", regex=r"^[0-9a-f]{64}$")
        )
    checks = [("manifest", df, manifest)]
    one_split = [gxe.ExpectColumnValuesToBeInSet(column="n_splits", value_set=[1])]
    if has("sha256", "split"):
        checks.append(("sha256_splits", _split_table(df, "sha256"), one_split))
    if has("group", "split"):
        checks.append(("group_splits", _split_table(df, "group"), list(one_split)))
    if has("split", "label"):
        lo, hi = cfg.bonafide_fraction_bounds
        stats = [
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="n_rows", column_B="min_rows", or_equal=True
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="bonafide_fraction", min_value=lo, max_value=hi
            ),
        ]
        checks.append(("split_stats", _split_stats(df, cfg), stats))
    return checks


def _describe(kind: str, kwargs: dict) -> str:
    shown = {k: v for k, v in kwargs.items() if k not in ("column", "batch_id") and v is not None}
    return f"{kind.removeprefix('expect_')}({', '.join(f'{k}={v}' for k, v in shown.items())})"


def _offending(result: dict, limit: int) -> list[str]:
    rows = result.get("unexpected_index_list") or []
    if rows and isinstance(rows[0], dict):
        return [", ".join(f"{k}={v}" for k, v in row.items()) for row in rows[:limit]]
    values = result.get("partial_unexpected_list") or []
    if not values and result.get("details", {}).get("value_counts") is not None:
        values = [str(v) for v in result["details"]["value_counts"]]
    return [str(v) for v in values[:limit]] or (
        [f"observed {result['observed_value']}"] if "observed_value" in result else []
    )


def _context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        store_backend_defaults=InMemoryStoreBackendDefaults(),
    )
    return gx, gx.get_context(mode="ephemeral", project_config=config)


INDEX_COLUMNS = {
    "manifest": ["utt_id"],
    "sha256_splits": ["sha256", "splits"],
    "group_splits": ["group", "splits"],
    "split_stats": ["split"],
}


def run_checks(df: pd.DataFrame, cfg: ValidationRules) -> list[CheckOutcome]:
    """Validate ``df`` (a manifest) with GX; one :class:`CheckOutcome` per expectation."""
    gx, context = _context()
    source = context.data_sources.add_pandas("veracity")
    outcomes: list[CheckOutcome] = []
    for name, frame, expectations in build_checks(df, cfg):
        batch = (
            source.add_dataframe_asset(name)
            .add_batch_definition_whole_dataframe(f"{name}-all")
            .get_batch(batch_parameters={"dataframe": frame})
        )
        suite = gx.ExpectationSuite(name=f"veracity-{name}")
        for expectation in expectations:
            suite.add_expectation(expectation)
        index_cols = [c for c in INDEX_COLUMNS[name] if c in frame.columns]
        result_format = {"result_format": "COMPLETE", "unexpected_index_column_names": index_cols}
        validation = batch.validate(suite, result_format=result_format)
        for res in validation.results:
            conf = res.expectation_config
            kwargs = dict(conf.kwargs)
            column = kwargs.get("column") or (
                f"{kwargs['column_A']},{kwargs['column_B']}" if "column_A" in kwargs else None
            )
            error = (res.exception_info or {}).get("exception_message")
            result = dict(res.result or {})
            offending = [] if res.success else _offending(result, cfg.max_offending_values)
            if error and not res.success:
                offending = offending or [f"error: {error}"]
            outcomes.append(
                CheckOutcome(
                    table=name,
                    expectation=conf.type,
                    column=column,
                    success=bool(res.success),
                    description=_describe(conf.type, kwargs),
                    unexpected_count=int(result.get("unexpected_count") or 0),
                    offending=offending,
                )
            )
    return outcomes

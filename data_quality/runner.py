"""Run the data-quality suites that gate publication of the `marts` tables.

A suite is a JSON file in `data_quality/suites/<table>.json` (see README.md). Expectations are
Great Expectations 1.x configurations (`type`, `kwargs`, `meta`) and run through GX's pandas
path on an in-memory, ephemeral context. Two things GX cannot do fast enough are evaluated here,
with the same result shape, so a caller sees one list of checks:

- `expect_column_values_to_be_in_reference`: every value exists in a reference key set
  (`dim_users.person_id`, ...). GX's `expect_column_values_to_be_in_set` with a 1M-value set takes
  minutes (measured: ~127 s for 1M x 1M); a hash lookup in pandas takes well under a second.
- row counts of the large facts (`mode: "summary"` suites), which `validate_duckdb` reads as
  `count(*)` instead of fetching the fact.

Freshness bounds are written as suite parameters named after the run's as-of date:
`{"$PARAMETER": "as_of"}`, `"as_of_minus_<N>d"`, `"as_of_plus_<N>d"`; the runner fills them in.

Nothing in this module raises out of `validate_frame` / `validate_duckdb`: any error becomes a
failed `SuiteResult` carrying the error text, so the caller can turn it into a blocking check.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import time
import traceback
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data_quality.dbt_yml import derived_expectations

SUITES_DIR = Path(__file__).parent / "suites"
LOCAL_TZ = "Asia/Shanghai"

REFERENCE_EXPECTATION = "expect_column_values_to_be_in_reference"
ROW_COUNT_EXPECTATIONS = {"expect_table_row_count_to_be_between", "expect_table_row_count_to_equal"}
SUITE_ERROR = "suite_error"
# What a summary-mode suite may hold: checks that a count, the column set and per-column min/max
# decide, so the runner can evaluate them without reading the table's rows.
SUMMARY_EXPECTATIONS = ROW_COUNT_EXPECTATIONS | {
    "expect_table_columns_to_match_set",
    "expect_column_max_to_be_between",
    "expect_column_min_to_be_between",
}

# Reference key sets a suite may name, and how validate_duckdb reads each one.
REFERENCE_QUERIES: dict[str, str] = {
    "dim_users.person_id": "select person_id from {schema}.dim_users",
    # Users the brand may contact: marketing consent given and never unsubscribed.
    "dim_users.contactable_person_id": (
        "select person_id from {schema}.dim_users "
        "where consent_marketing and unsubscribed_at is null"
    ),
    # The classified inbound messages: the human takeover queue holds only these. (Each query
    # returns the key set as its one column.)
    "inbound_message_intents.message_id": (
        "select message_id from {schema}.inbound_message_intents"
    ),
}

# Expectations that summarise a column: on an empty table there is nothing to summarise, so they
# report "not applicable" instead of failing on a null; the row-count check decides whether the
# table may be empty at all.
AGGREGATE_EXPECTATIONS = {
    "expect_column_max_to_be_between",
    "expect_column_min_to_be_between",
    "expect_column_mean_to_be_between",
    "expect_column_median_to_be_between",
    "expect_column_sum_to_be_between",
    "expect_column_stdev_to_be_between",
    "expect_column_quantile_values_to_be_between",
    "expect_column_unique_value_count_to_be_between",
    "expect_column_proportion_of_unique_values_to_be_between",
}
# Conditions a suite may put in an expectation's `meta.applies_when`, and what the run tells the
# runner (`context`): the brand's sources (SIYU_SOURCES) and the models that are promoted.
APPLIES_WHEN_KEYS = {"sources_any", "model_promoted"}

_PARAMETER_RE = re.compile(r"^as_of(?:_(minus|plus)_(\d+)d)?$")
_COLUMN_KWARGS = ("column", "column_A", "column_B")
_COLUMN_LIST_KWARGS = ("column_list", "column_set")


# --------------------------------------------------------------------------------------------
# Suites


@dataclass(frozen=True)
class SuiteDefinition:
    """A parsed suite file: the table it gates and its expectation configurations."""

    table: str
    schema: str
    grain: str
    mode: str  # "full": validate the table's rows; "summary": table-level checks on aggregates
    expectations: tuple[dict[str, Any], ...]
    path: Path
    # A snapshot table (one row per key and day): validate_duckdb reads only the rows of the
    # latest value of this date column, the snapshot a run publishes; dbt tests check the history.
    latest_of: str | None = None
    # The dbt yml the key, not-null, accepted-value and reference checks were derived from
    # (full-mode suites; those expectations carry meta.derived_from).
    derived_from: Path | None = None

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


def list_suites() -> list[str]:
    """Names of the tables that have a suite, sorted."""
    return sorted(p.stem for p in SUITES_DIR.glob("*.json"))


def load_suite(
    table: str, suites_dir: Path | None = None, derive_from_dbt: bool = True
) -> SuiteDefinition:
    """Read and check `<suites_dir>/<table>.json`, merged (full mode, `derive_from_dbt`) with the
    expectations derived from the model's dbt yml (`data_quality.dbt_yml`). The live suites
    (data_quality/live.py) are read from their own folder, with nothing derived: their tables
    are no dbt models.

    Raises FileNotFoundError for an unknown table and ValueError for a malformed file.
    """
    suites_dir = SUITES_DIR if suites_dir is None else suites_dir
    path = suites_dir / f"{table}.json"
    if not path.exists():
        known = sorted(p.stem for p in suites_dir.glob("*.json"))
        raise FileNotFoundError(
            f"no data-quality suite for table {table!r}: expected {path}; "
            f"suites exist for {', '.join(known)}"
        )
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("table") != table:
        raise ValueError(f"{path}: 'table' is {doc.get('table')!r}, expected {table!r}")
    mode = doc.get("mode", "full")
    if mode not in ("full", "summary"):
        raise ValueError(f"{path}: 'mode' must be 'full' or 'summary', got {mode!r}")
    expectations = doc.get("expectations")
    if not isinstance(expectations, list) or not expectations:
        raise ValueError(f"{path}: 'expectations' must be a non-empty list")
    derived_from = None
    if mode == "full" and derive_from_dbt:
        # Keys, not-null, accepted values and references come from the model's dbt yml (one
        # place for the rule; dbt_yml.py); the JSON holds what the yml does not say.
        derived, derived_from = derived_expectations(
            table, _contract_columns(expectations), REFERENCE_QUERIES
        )
        expectations = _merge(expectations, derived)
    for i, exp in enumerate(expectations):
        if (
            not isinstance(exp, dict)
            or "type" not in exp
            or not isinstance(exp.get("kwargs"), dict)
        ):
            raise ValueError(f"{path}: expectation #{i} needs 'type' and a 'kwargs' object")
        unknown_conditions = (
            set((exp.get("meta") or {}).get("applies_when") or {}) - APPLIES_WHEN_KEYS
        )
        if unknown_conditions:
            raise ValueError(
                f"{path}: expectation #{i} ({exp['type']}): unknown applies_when condition(s) "
                f"{sorted(unknown_conditions)}; allowed: {sorted(APPLIES_WHEN_KEYS)}"
            )
        if mode == "summary" and exp["type"] not in SUMMARY_EXPECTATIONS:
            raise ValueError(
                f"{path}: expectation #{i} ({exp['type']}) needs the table's rows; a summary-mode "
                f"suite holds only {', '.join(sorted(SUMMARY_EXPECTATIONS))} (row-level checks "
                "of the facts are dbt tests)"
            )
        for name in _parameter_names(exp["kwargs"]):
            if not _PARAMETER_RE.match(name):
                raise ValueError(
                    f"{path}: expectation #{i} uses unknown parameter {name!r}; use as_of, "
                    "as_of_minus_<N>d or as_of_plus_<N>d"
                )
        if exp["type"] == REFERENCE_EXPECTATION and exp["kwargs"].get("reference") not in (
            REFERENCE_QUERIES
        ):
            raise ValueError(
                f"{path}: expectation #{i} names reference {exp['kwargs'].get('reference')!r}; "
                f"known: {', '.join(REFERENCE_QUERIES)}"
            )
    latest_of = doc.get("latest_of")
    if latest_of is not None and (not isinstance(latest_of, str) or mode != "full"):
        raise ValueError(f"{path}: 'latest_of' must name a date column of a full-mode suite")
    return SuiteDefinition(
        table=table,
        schema=doc.get("schema", "marts"),
        grain=doc.get("grain", ""),
        mode=mode,
        expectations=tuple(expectations),
        path=path,
        latest_of=latest_of,
        derived_from=derived_from,
    )


def _contract_columns(expectations: list[dict[str, Any]]) -> list[str]:
    """The columns of the suite's column-set check: the data contract's columns of the table."""
    return [
        c
        for exp in expectations
        if isinstance(exp, dict) and exp.get("type") == "expect_table_columns_to_match_set"
        for c in (exp.get("kwargs") or {}).get("column_set") or []
    ]


def _merge(written: list[dict[str, Any]], derived: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The suite's table-level checks (column set, row count) first, then the derived checks,
    then the rest of the hand-written ones; the gate's results read in that order."""
    table_level = ROW_COUNT_EXPECTATIONS | {"expect_table_columns_to_match_set"}
    n_head = 0
    while n_head < len(written) and (
        isinstance(written[n_head], dict) and written[n_head].get("type") in table_level
    ):
        n_head += 1
    return [*written[:n_head], *derived, *written[n_head:]]


def expectation_columns(expectation: Mapping[str, Any]) -> list[str]:
    """Columns an expectation configuration names, in order."""
    kwargs = expectation.get("kwargs", {})
    cols = [kwargs[k] for k in _COLUMN_KWARGS if isinstance(kwargs.get(k), str)]
    for k in _COLUMN_LIST_KWARGS:
        cols.extend(kwargs.get(k) or [])
    return cols


def columns_needed(table: str) -> list[str]:
    """Columns to read from the table to validate it (every column its suite names)."""
    suite = load_suite(table)
    return list(dict.fromkeys(c for exp in suite.expectations for c in expectation_columns(exp)))


def references_needed(table: str) -> list[str]:
    """Reference key sets (keys of REFERENCE_QUERIES) the table's suite checks against."""
    suite = load_suite(table)
    return list(
        dict.fromkeys(
            exp["kwargs"]["reference"]
            for exp in suite.expectations
            if exp["type"] == REFERENCE_EXPECTATION
        )
    )


def _parameter_names(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        if "$PARAMETER" in value:
            yield value["$PARAMETER"]
        else:
            for v in value.values():
                yield from _parameter_names(v)
    elif isinstance(value, list):
        for v in value:
            yield from _parameter_names(v)


# --------------------------------------------------------------------------------------------
# Results


@dataclass
class SuiteResult:
    """Outcome of one suite run.

    `results` holds one JSON-serialisable dict per expectation: expectation, column, success,
    observed_value, unexpected_count, unexpected_percent (of non-null values, 0..100), mostly,
    kwargs, details (up to 10 unexpected values or GX's details), why, error. A run that could
    not complete has success False, `error` set and one result row named `suite_error`.
    """

    table: str
    success: bool
    n_expectations: int
    n_failed: int
    results: list[dict[str, Any]]
    as_of: str | None = None
    error: str | None = None
    duration_s: float = 0.0
    validated_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.results if not r["success"]]

    @property
    def not_applicable(self) -> list[str]:
        """One line per expectation that could not apply in this run, with the reason."""
        return [
            f"{r['expectation']}({r['column'] or ''}): {r['details']['not_applicable']}"
            for r in self.results
            if isinstance(r["details"], dict) and "not_applicable" in r["details"]
        ]

    def to_frame(self) -> pd.DataFrame:
        """One row per expectation, for storing in a results table.

        observed_value and kwargs are JSON text so the column types stay fixed across suites.
        """
        rows = [
            {
                "table": self.table,
                "as_of": self.as_of,
                "validated_at": self.validated_at,
                "suite_success": self.success,
                "expectation": r["expectation"],
                "column": r["column"],
                "success": r["success"],
                "observed_value": json.dumps(r["observed_value"], ensure_ascii=False),
                "unexpected_count": r["unexpected_count"],
                "unexpected_percent": r["unexpected_percent"],
                "mostly": r["mostly"],
                "kwargs": json.dumps(r["kwargs"], ensure_ascii=False),
                "details": json.dumps(r["details"], ensure_ascii=False),
                "why": r["why"],
                "error": r["error"],
            }
            for r in self.results
        ]
        frame = pd.DataFrame(rows, columns=_FRAME_COLUMNS)
        return frame.astype(
            {
                "success": "boolean",
                "suite_success": "boolean",
                "unexpected_count": "Int64",
                "unexpected_percent": "Float64",
                "mostly": "Float64",
            }
        )

    def summary(self) -> str:
        """One line per failed expectation, for logs and check descriptions."""
        head = (
            f"{self.table}: {'passed' if self.success else 'FAILED'} "
            f"({self.n_failed} of {self.n_expectations} expectations failed)"
        )
        return "\n".join([head, *(f"- {line}" for line in self.failure_lines())])

    def failure_lines(self) -> list[str]:
        """Each failed expectation as `expectation(column): what was seen [why]`."""
        lines = []
        for r in self.failed:
            what = r["error"] or (
                f"unexpected {r['unexpected_count']} ({r['unexpected_percent']:.3g}%)"
                if r["unexpected_count"] is not None and r["unexpected_percent"] is not None
                else f"observed {r['observed_value']!r}"
            )
            lines.append(f"{r['expectation']}({r['column'] or ''}): {what} [{r['why']}]")
        return lines


_FRAME_COLUMNS = [
    "table",
    "as_of",
    "validated_at",
    "suite_success",
    "expectation",
    "column",
    "success",
    "observed_value",
    "unexpected_count",
    "unexpected_percent",
    "mostly",
    "kwargs",
    "details",
    "why",
    "error",
]


def _result_row(
    exp: Mapping[str, Any],
    *,
    success: bool,
    observed_value: Any = None,
    unexpected_count: int | None = None,
    unexpected_percent: float | None = None,
    details: Any = None,
    error: str | None = None,
) -> dict[str, Any]:
    kwargs = exp.get("kwargs", {})
    cols = (
        expectation_columns(exp) if exp.get("type") != "expect_table_columns_to_match_set" else []
    )
    return {
        "expectation": exp.get("type"),
        "column": ",".join(cols) or None,
        "success": bool(success),
        "observed_value": _jsonable(observed_value),
        "unexpected_count": None if unexpected_count is None else int(unexpected_count),
        "unexpected_percent": None if unexpected_percent is None else float(unexpected_percent),
        "mostly": float(kwargs["mostly"]) if "mostly" in kwargs else None,
        "kwargs": _jsonable(kwargs),
        "details": _jsonable(details),
        "why": (exp.get("meta") or {}).get("why"),
        "error": error,
    }


def _error_result(table: str, error: str, as_of: str | None, started: float) -> SuiteResult:
    row = _result_row({"type": SUITE_ERROR, "kwargs": {}}, success=False, error=error)
    return SuiteResult(
        table=table,
        success=False,
        n_expectations=1,
        n_failed=1,
        results=[row],
        as_of=as_of,
        error=error,
        duration_s=_elapsed(started),
    )


def _jsonable(value: Any) -> Any:
    """Convert GX / numpy / pandas values into plain JSON types."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, int):
        return value
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | np.ndarray):
        return [_jsonable(v) for v in value]
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def _elapsed(started: float) -> float:
    return round(time.perf_counter() - started, 3)


# --------------------------------------------------------------------------------------------
# Validation


def validate_frame(
    table: str,
    df: pd.DataFrame,
    *,
    as_of: dt.date | str | pd.Timestamp | None = None,
    reference: Mapping[str, Collection] | Collection | None = None,
    row_count: int | None = None,
    context: Mapping[str, Any] | None = None,
) -> SuiteResult:
    """Validate a frame holding (the needed columns of) `table` against its suite.

    as_of: the run's as-of date (a date, 'YYYY-MM-DD' or Timestamp; default today in
        Asia/Shanghai). Freshness bounds are days relative to it.
    reference: key sets for `expect_column_values_to_be_in_reference`, keyed like
        REFERENCE_QUERIES (`{"dim_users.person_id": ids, ...}`); a bare collection is taken
        as `dim_users.person_id`. A referential expectation without its key set fails.
    row_count: the table's true row count when `df` is a summary of it (facts); row-count
        expectations are then evaluated against this number instead of len(df).
    context: what the run knows about the brand, for expectations with `meta.applies_when`:
        `{"sources": ["crm", ...], "models": ["churn", ...]}` (its sources and promoted models).
        Without it every expectation applies.

    An expectation that cannot apply (its `applies_when` condition is not met, or it summarises
    a column of an empty table) passes with `observed_value` "not applicable: <reason>".

    Never raises: any error gives a failed SuiteResult with the error text.
    """
    started = time.perf_counter()
    as_of_text = None
    try:
        as_of_ts = _as_of_timestamp(as_of)
        as_of_text = as_of_ts.date().isoformat()
        suite = load_suite(table)
        refs = _normalise_reference(reference)
        results = _run_suite(suite, df, as_of_ts, refs, row_count, context)
    except Exception as exc:  # the gate must get a result, whatever went wrong
        return _error_result(table, _describe(exc), as_of_text, started)
    n_failed = sum(not r["success"] for r in results)
    return SuiteResult(
        table=table,
        success=n_failed == 0,
        n_expectations=len(results),
        n_failed=n_failed,
        results=results,
        as_of=as_of_text,
        duration_s=_elapsed(started),
    )


def validate_duckdb(
    con: Any,
    table: str,
    schema: str = "marts",
    as_of: dt.date | str | pd.Timestamp | None = None,
    reference: Mapping[str, Collection] | Collection | None = None,
    context: Mapping[str, Any] | None = None,
) -> SuiteResult:
    """Validate `schema.table` through a DuckDB connection the caller owns (`context`: see
    `validate_frame`).

    Reads only the columns the suite needs, and for a suite with `latest_of` only the latest
    snapshot's rows. For `mode: "summary"` suites (the large facts) it
    reads no rows: one aggregate query gives the row count and the min/max of the columns the
    suite checks, and a LIMIT 0 query gives the column set. Reference key sets the suite needs are
    read from `schema.dim_users` unless passed in `reference` (pass them to reuse across tables).

    Never raises: any error (missing table, SQL error) gives a failed SuiteResult.
    """
    started = time.perf_counter()
    try:
        suite = load_suite(table)
        relation = f"{_quote(schema)}.{_quote(table)}"
        present = list(con.execute(f"select * from {relation} limit 0").fetchdf().columns)
        needed = [c for c in columns_needed(table) if c in present]
        row_count = None
        if suite.mode == "summary":
            df, row_count = _summary_frame(con, relation, suite, present)
        else:
            select = ", ".join(_quote(c) for c in needed) or "1 as _no_columns"
            where = ""
            if suite.latest_of:
                latest = _quote(suite.latest_of)
                where = f" where {latest} = (select max({latest}) from {relation})"
            df = con.execute(f"select {select} from {relation}{where}").fetchdf()
            if not needed:
                df = df.iloc[:, 0:0]
        refs = _normalise_reference(reference)
        for name in references_needed(table):
            if name not in refs:
                query = REFERENCE_QUERIES[name].format(schema=_quote(schema))
                refs[name] = pd.Index(con.execute(query).fetchdf().iloc[:, 0])
    except Exception as exc:
        return _error_result(
            table, f"reading {schema}.{table} failed: {_describe(exc)}", _as_of_text(as_of), started
        )
    result = validate_frame(
        table, df, as_of=as_of, reference=refs, row_count=row_count, context=context
    )
    result.duration_s = _elapsed(started)
    return result


def _summary_frame(
    con: Any, relation: str, suite: SuiteDefinition, present: list[str]
) -> tuple[pd.DataFrame, int]:
    """Two rows standing in for a large fact: row 0 holds each column's min, row 1 its max.

    Min/max (and so column min/max expectations) over these two rows equal those over the whole
    table; the column set equals the table's. Row count comes back separately.
    """
    agg_cols = [
        c
        for exp in suite.expectations
        if exp["type"] in ("expect_column_max_to_be_between", "expect_column_min_to_be_between")
        for c in expectation_columns(exp)
        if c in present
    ]
    agg_cols = list(dict.fromkeys(agg_cols))
    parts = ["count(*) as n_rows"]
    for i, c in enumerate(agg_cols):
        parts += [f"min({_quote(c)}) as min_{i}", f"max({_quote(c)}) as max_{i}"]
    agg = con.execute(f"select {', '.join(parts)} from {relation}").fetchdf()
    n_rows = int(agg["n_rows"].iloc[0])
    data: dict[str, Any] = {c: [None, None] for c in present}
    for i, c in enumerate(agg_cols):
        data[c] = pd.Series([agg[f"min_{i}"].iloc[0], agg[f"max_{i}"].iloc[0]])
    return pd.DataFrame(data, columns=present), n_rows


def _run_suite(
    suite: SuiteDefinition,
    df: pd.DataFrame,
    as_of: pd.Timestamp,
    refs: dict[str, Collection],
    row_count: int | None,
    context: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame for {suite.table}, got {type(df).__name__}")
    n_rows = row_count if row_count is not None else len(df)
    gx_indexed: list[tuple[int, dict[str, Any]]] = []
    results: dict[int, dict[str, Any]] = {}
    for i, exp in enumerate(suite.expectations):
        reason = not_applicable_reason(exp, n_rows, context)
        if reason:
            results[i] = _result_row(
                exp,
                success=True,
                observed_value=f"not applicable: {reason}",
                details={"not_applicable": reason},
            )
        elif exp["type"] == REFERENCE_EXPECTATION:
            results[i] = _check_reference(exp, df, refs)
        elif row_count is not None and exp["type"] in ROW_COUNT_EXPECTATIONS:
            results[i] = _check_row_count(exp, row_count)
        else:
            gx_indexed.append((i, exp))
    if gx_indexed:
        frame = _prepare_frame(df, suite, [exp for _, exp in gx_indexed])
        parameters = _parameters(as_of, [exp for _, exp in gx_indexed])
        results.update(_run_gx(suite, frame, gx_indexed, parameters))
    return [results[i] for i in range(len(suite.expectations))]


def not_applicable_reason(
    exp: Mapping[str, Any], n_rows: int, context: Mapping[str, Any] | None
) -> str | None:
    """Why `exp` cannot judge this table in this run, or None when it applies."""
    conditions = (exp.get("meta") or {}).get("applies_when") or {}
    if context is not None:
        wanted = conditions.get("sources_any")
        sources = list(context.get("sources") or [])
        if wanted and not set(wanted) & set(sources):
            return (
                f"needs a {' or '.join(wanted)} source; this brand's sources are "
                f"{', '.join(sources) or 'none'} (SIYU_SOURCES)"
            )
        model = conditions.get("model_promoted")
        if model and model not in set(context.get("models") or []):
            return f"no promoted {model} model yet (too little history to train one)"
    if n_rows == 0 and exp["type"] in AGGREGATE_EXPECTATIONS:
        return "the table is empty, there is no value to summarise"
    return None


def _prepare_frame(
    df: pd.DataFrame, suite: SuiteDefinition, expectations: list[dict[str, Any]]
) -> pd.DataFrame:
    """Only the columns the suite names; date-bounded columns as naive local datetime64."""
    needed = {c for exp in expectations for c in expectation_columns(exp)}
    frame = df[[c for c in df.columns if c in needed]]
    dated = {
        c
        for exp in expectations
        if _parameter_names_list(exp["kwargs"])
        for c in expectation_columns(exp)
        if c in frame.columns
    }
    if dated:
        frame = frame.copy(deep=False)
        for c in dated:
            frame[c] = _to_local_naive_datetime(frame[c])
    return frame


def _parameter_names_list(kwargs: Mapping[str, Any]) -> list[str]:
    return list(_parameter_names(dict(kwargs)))


def _to_local_naive_datetime(values: pd.Series) -> pd.Series:
    converted = pd.to_datetime(values)
    if getattr(converted.dt, "tz", None) is not None:
        converted = converted.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
    return converted


def _parameters(as_of: pd.Timestamp, expectations: list[dict[str, Any]]) -> dict[str, Any]:
    values = {}
    for exp in expectations:
        for name in _parameter_names(exp["kwargs"]):
            sign, days = _PARAMETER_RE.match(name).groups()
            delta = pd.Timedelta(days=int(days or 0))
            values[name] = as_of - delta if sign == "minus" else as_of + delta
    return values


def _run_gx(
    suite: SuiteDefinition,
    frame: pd.DataFrame,
    indexed: list[tuple[int, dict[str, Any]]],
    parameters: dict[str, Any],
) -> dict[int, dict[str, Any]]:
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    expectations = []
    for i, exp in indexed:
        kwargs = {**exp["kwargs"], "catch_exceptions": True}
        meta = {**(exp.get("meta") or {}), "dq_index": i}
        # Built one by one: ExpectationSuite(...) logs and drops an invalid configuration.
        config = ExpectationConfiguration(type=exp["type"], kwargs=kwargs, meta=meta)
        expectations.append(config.to_domain_obj())

    context = gx.get_context(mode="ephemeral", project_config=_context_config())
    batch = (
        context.data_sources.add_pandas(name="siyu_dq")
        .add_dataframe_asset(name=suite.table)
        .add_batch_definition_whole_dataframe(name="whole_frame")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    gx_suite = gx.ExpectationSuite(name=suite.name, expectations=expectations)
    if len(gx_suite.expectations) != len(expectations):
        raise ValueError(f"{suite.path}: GX rejected an expectation configuration")
    validation = batch.validate(
        gx_suite, result_format="SUMMARY", expectation_parameters=parameters
    )

    out: dict[int, dict[str, Any]] = {}
    for res in validation.results:
        i = res.expectation_config.meta["dq_index"]
        exp = dict(indexed)[i]
        result = dict(res.result or {})
        info = res.exception_info or {}
        error = _gx_exception_message(info)
        out[i] = _result_row(
            exp,
            success=bool(res.success) and error is None,
            observed_value=result.get("observed_value"),
            unexpected_count=result.get("unexpected_count"),
            unexpected_percent=result.get("unexpected_percent"),
            details=result.get("details") or result.get("partial_unexpected_list", [])[:10] or None,
            error=error,
        )
    missing = [i for i, _ in indexed if i not in out]
    if missing:
        raise RuntimeError(f"GX returned no result for expectations {missing} of {suite.path}")
    return out


@cache
def _context_config() -> Any:
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    return DataContextConfig(
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
    )


def _gx_exception_message(info: Mapping[str, Any]) -> str | None:
    """GX reports an exception either flat or keyed by metric id."""
    if not info:
        return None
    if "raised_exception" in info:
        return info.get("exception_message") if info.get("raised_exception") else None
    messages = [
        v.get("exception_message")
        for v in info.values()
        if isinstance(v, Mapping) and v.get("raised_exception")
    ]
    return "; ".join(str(m) for m in messages) or None


def _check_reference(
    exp: Mapping[str, Any], df: pd.DataFrame, refs: Mapping[str, Collection]
) -> dict[str, Any]:
    kwargs = exp["kwargs"]
    column, name = kwargs["column"], kwargs["reference"]
    if column not in df.columns:
        return _result_row(
            exp, success=False, error=f'Error: The column "{column}" in BatchData does not exist.'
        )
    if name not in refs:
        return _result_row(
            exp,
            success=False,
            error=f"no reference key set {name!r} given: pass reference={{{name!r}: keys}}",
        )
    values = df[column]
    non_null = values.notna()
    orphan = non_null & ~_isin(values, refs[name])
    n_non_null = int(non_null.sum())
    n_orphan = int(orphan.sum())
    percent = 100.0 * n_orphan / n_non_null if n_non_null else 0.0
    mostly = float(kwargs.get("mostly", 1.0))
    success = n_orphan == 0 or (n_non_null > 0 and (n_non_null - n_orphan) / n_non_null >= mostly)
    return _result_row(
        exp,
        success=success,
        observed_value={"orphans": n_orphan, "checked": n_non_null},
        unexpected_count=n_orphan,
        unexpected_percent=percent,
        details=values[orphan].head(10).tolist() or None,
    )


def _isin(values: pd.Series, keys: Collection) -> pd.Series:
    """values.isin(keys), through Arrow: pandas 3's isin on `str` columns takes ~8 s for 1M x 1M."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(keys, set | frozenset):
        keys = list(keys)
    try:
        arr = pa.array(values, from_pandas=True)
        value_set = pa.array(keys, from_pandas=True)
        if value_set.type != arr.type:
            value_set = value_set.cast(arr.type)
        hit = pc.is_in(arr, value_set=value_set).to_numpy(zero_copy_only=False)
    except (pa.ArrowException, TypeError, ValueError):
        hit = values.astype(object).isin(pd.Index(keys).astype(object)).to_numpy()
    return pd.Series(hit, index=values.index, dtype=bool)


def _check_row_count(exp: Mapping[str, Any], n_rows: int) -> dict[str, Any]:
    kwargs = exp["kwargs"]
    if exp["type"] == "expect_table_row_count_to_equal":
        success = n_rows == kwargs["value"]
    else:
        lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
        success = (lo is None or n_rows >= lo) and (hi is None or n_rows <= hi)
    return _result_row(exp, success=success, observed_value=n_rows)


def _normalise_reference(reference: Any) -> dict[str, Collection]:
    if reference is None:
        return {}
    if isinstance(reference, Mapping):
        return dict(reference)
    return {"dim_users.person_id": reference}


def _as_of_timestamp(as_of: Any) -> pd.Timestamp:
    if as_of is None:
        return pd.Timestamp.now(tz=LOCAL_TZ).normalize().tz_localize(None)
    ts = pd.Timestamp(as_of)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(LOCAL_TZ).tz_localize(None)
    return ts.normalize()


def _as_of_text(as_of: Any) -> str | None:
    try:
        return _as_of_timestamp(as_of).date().isoformat()
    except (TypeError, ValueError):
        return None


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _describe(exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" (at {Path(frame.filename).name}:{frame.lineno})" if frame else ""
    return f"{type(exc).__name__}: {exc}{where}"

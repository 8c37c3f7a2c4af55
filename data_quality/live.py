"""The quality suites of the live tables (`suites/live/<table>.json`), run before each live
publication.

The live tables are not dbt models, so their suites hold every expectation themselves (keys
unique and not null, ranges, pairs); nothing is derived from a dbt yml. A value set may name a
seed column, `{"$SEED": "personas.persona", "plus": [...]}`, so the personas are listed once
(`dbt_project/seeds/personas.csv`). They run through the same runner as the daily suites and
give the same `SuiteResult`; like `validate_duckdb`, nothing here raises.
"""

from __future__ import annotations

import csv
import dataclasses
import time
from pathlib import Path
from typing import Any

import pandas as pd

from data_quality.dbt_yml import SEEDS_DIR
from data_quality.runner import (
    SuiteDefinition,
    SuiteResult,
    _as_of_timestamp,
    _describe,
    _error_result,
    _quote,
    _run_suite,
    load_suite,
)

LIVE_SUITES_DIR = Path(__file__).parent / "suites" / "live"


def list_live_suites() -> list[str]:
    return sorted(p.stem for p in LIVE_SUITES_DIR.glob("*.json"))


def load_live_suite(table: str) -> SuiteDefinition:
    """The live suite of `table`, checked as every suite is (data_quality.runner.load_suite),
    its `$SEED` value sets read from the seeds."""
    suite = load_suite(table, LIVE_SUITES_DIR, derive_from_dbt=False)
    return dataclasses.replace(
        suite, expectations=tuple(_resolve_seeds(exp) for exp in suite.expectations)
    )


def _resolve_seeds(exp: dict[str, Any]) -> dict[str, Any]:
    value_set = exp.get("kwargs", {}).get("value_set")
    if not (isinstance(value_set, dict) and "$SEED" in value_set):
        return exp
    seed, column = value_set["$SEED"].split(".", 1)
    with open(SEEDS_DIR / f"{seed}.csv", encoding="utf-8", newline="") as fh:
        values = [row[column] for row in csv.DictReader(fh)]
    kwargs = {**exp["kwargs"], "value_set": values + list(value_set.get("plus", []))}
    return {**exp, "kwargs": kwargs}


def validate_live(con: Any, table: str, as_of: Any = None) -> SuiteResult:
    """Validate `marts.<table>` of the live database through `con` against its live suite."""
    started = time.perf_counter()
    try:
        suite = load_live_suite(table)
        as_of_ts = _as_of_timestamp(as_of)
        df = con.execute(f"select * from {_quote(suite.schema)}.{_quote(table)}").fetchdf()
        results = _run_suite(suite, df, as_of_ts, {}, None, None)
    except Exception as exc:  # the gate must get a result, whatever went wrong
        return _error_result(table, _describe(exc), None, started)
    n_failed = sum(not r["success"] for r in results)
    return SuiteResult(
        table=table,
        success=n_failed == 0,
        n_expectations=len(results),
        n_failed=n_failed,
        results=results,
        as_of=as_of_ts.date().isoformat(),
        duration_s=round(time.perf_counter() - started, 3),
    )


def failure_line(result: SuiteResult) -> str:
    """One line naming the suite's first failed expectation (or its error)."""
    if result.error:
        return f"live suite {result.table}: {result.error}"
    failed = result.failed
    first = failed[0] if failed else {}
    column = f"({first.get('column')})" if first.get("column") else ""
    return (
        f"live suite {result.table}: {result.n_failed} of {result.n_expectations} expectations "
        f"failed, first {first.get('expectation')}{column}: observed "
        f"{str(first.get('observed_value'))[:80]}"
    )


def summary_frame(results: list[SuiteResult]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"table": r.table, "success": r.success, "failed": r.n_failed, "of": r.n_expectations}
            for r in results
        ]
    )

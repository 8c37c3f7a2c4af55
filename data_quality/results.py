"""The audit of a run: every published table's suite run against the build database, and the
results kept in `audit.validation_results` (one row per expectation, with the run id and the
time it was checked) so the publication step, the console and a person can read them back.

No Dagster here: the quality-gate asset calls `audit_tables`, the publication asset
`publishing.serving.audited_check_summary`, which reads `run_status`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from data_quality.runner import SuiteResult, validate_duckdb

RESULTS_SCHEMA = "audit"
RESULTS_TABLE_NAME = "validation_results"
RESULTS_TABLE = f"{RESULTS_SCHEMA}.{RESULTS_TABLE_NAME}"


def has_results(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the results table exists (it does once any suite ran on this build database)."""
    ((count,),) = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [RESULTS_SCHEMA, RESULTS_TABLE_NAME],
    ).fetchall()
    return count > 0


def store_results(con: duckdb.DuckDBPyConnection, run_id: str, frame: pd.DataFrame) -> None:
    """Append one suite's results (`SuiteResult.to_frame()` plus `table_name`) under `run_id`,
    stamped with the UTC time of the check. Object columns are stored as text: an observed
    value may be a number, a list or a dict, and one column has one type."""
    con.execute(f"create schema if not exists {RESULTS_SCHEMA}")
    frame = frame.assign(run_id=run_id, checked_at=pd.Timestamp.now(tz="UTC").tz_localize(None))
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(lambda v: None if v is None else str(v))
    exists = has_results(con)
    con.register("_results", frame)
    try:
        if not exists:
            con.execute(f"create table {RESULTS_TABLE} as select * from _results")
        else:
            # by name: a suite whose results lack a column (no failures, no observed values)
            # still appends
            con.execute(f"insert into {RESULTS_TABLE} by name select * from _results")
    finally:
        con.unregister("_results")


def run_status(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, tuple[bool, int]]:
    """table -> (every expectation passed, number that failed) for the suites stored under
    `run_id`; a table whose suite did not run in that run is absent."""
    if not has_results(con):
        return {}
    rows = con.execute(
        f"select table_name, bool_and(success), count(*) filter (where not success) "
        f"from {RESULTS_TABLE} where run_id = ? group by table_name",
        [run_id],
    ).fetchall()
    return {table: (bool(passed), int(n_failed)) for table, passed, n_failed in rows}


def failure_reason(result: SuiteResult) -> str:
    """A suite's failure in one line (for the check, the console and the publication log)."""
    return result.error or "; ".join(result.failure_lines())


@dataclass(frozen=True)
class Audit:
    """The suites of one run: each table's result, or the exception that kept it from running."""

    as_of: dt.date
    results: Mapping[str, SuiteResult | Exception]

    @property
    def reasons(self) -> dict[str, str]:
        """table -> why it failed, for the tables that did not pass."""
        return {
            t: (f"{type(r).__name__}: {r}" if isinstance(r, Exception) else failure_reason(r))
            for t, r in self.results.items()
            if isinstance(r, Exception) or not r.success
        }

    def summary(self) -> pd.DataFrame:
        """One row per table (index `table`): passed, expectations, failed."""
        return pd.DataFrame(
            [
                {
                    "table": t,
                    "passed": not isinstance(r, Exception) and bool(r.success),
                    "expectations": 0 if isinstance(r, Exception) else r.n_expectations,
                    "failed": 1 if isinstance(r, Exception) else r.n_failed,
                }
                for t, r in self.results.items()
            ],
            columns=["table", "passed", "expectations", "failed"],
        ).set_index("table")

    def check_summary(self) -> dict[str, dict[str, Any]]:
        """table -> {passed, reason when failed}: what the publication log records."""
        reasons = self.reasons
        return {
            t: {"passed": t not in reasons, **({"reason": reasons[t]} if t in reasons else {})}
            for t in self.results
        }


def audit_tables(
    con: duckdb.DuckDBPyConnection,
    tables: Sequence[str],
    run_id: str,
    *,
    as_of: dt.date,
    context: Mapping[str, Any] | None = None,
) -> Audit:
    """Run the suite of every table in `tables` on `marts.<table>` as of `as_of` (the last
    complete business day), with the brand `context` (sources, promoted models) deciding which
    expectations apply, and store each result under `run_id`. A suite that cannot run or be
    stored is kept as its exception, so it still reports and blocks."""
    results: dict[str, SuiteResult | Exception] = {}
    for table in tables:
        try:
            results[table] = validate_duckdb(con, table, as_of=as_of, context=context)
            store_results(con, run_id, results[table].to_frame().assign(table_name=table))
        except Exception as exc:
            results[table] = exc
    return Audit(as_of=as_of, results=results)

"""Storing and reading back a run's audit (data_quality.results) on a real DuckDB file, and the
publication's summary of it (publishing.serving.audited_check_summary)."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from data_quality.results import (
    RESULTS_TABLE,
    audit_tables,
    has_results,
    run_status,
    store_results,
)
from data_quality.runner import SuiteResult
from publishing.serving import audited_check_summary

AS_OF = dt.date(2026, 5, 2)


def _result(table: str, outcomes: list[bool]) -> SuiteResult:
    rows = [
        {
            "expectation": f"expect_{i}",
            "column": "person_id",
            "success": ok,
            "observed_value": {"n": i},  # not a scalar: stored as text
            "unexpected_count": 0 if ok else 3,
            "unexpected_percent": 0.0 if ok else 1.5,
            "mostly": None,
            "kwargs": {"column": "person_id"},
            "details": {},
            "why": "",
            "error": None,
        }
        for i, ok in enumerate(outcomes)
    ]
    return SuiteResult(
        table=table,
        success=all(outcomes),
        n_expectations=len(outcomes),
        n_failed=outcomes.count(False),
        results=rows,
        as_of=str(AS_OF),
    )


@pytest.fixture
def con(tmp_path):
    with duckdb.connect(str(tmp_path / "build.duckdb")) as con:
        yield con


def test_results_are_appended_per_run_and_read_back_per_table(con):
    assert not has_results(con) and run_status(con, "run-1") == {}
    store_results(
        con, "run-1", _result("dim_users", [True, True]).to_frame().assign(table_name="dim_users")
    )
    assert has_results(con)
    store_results(
        con,
        "run-1",
        _result("user_rfm", [True, False, False]).to_frame().assign(table_name="user_rfm"),
    )
    store_results(
        con, "run-2", _result("user_rfm", [True]).to_frame().assign(table_name="user_rfm")
    )
    assert run_status(con, "run-1") == {"dim_users": (True, 0), "user_rfm": (False, 2)}
    assert run_status(con, "run-2") == {"user_rfm": (True, 0)}
    ((rows, observed),) = con.execute(
        f"select count(*), max(observed_value) from {RESULTS_TABLE}"
    ).fetchall()
    assert rows == 6 and observed.startswith("{")


def test_publication_summary_blocks_a_table_whose_suite_did_not_run(con):
    store_results(
        con, "run-1", _result("dim_users", [True]).to_frame().assign(table_name="dim_users")
    )
    store_results(
        con, "run-1", _result("user_rfm", [False]).to_frame().assign(table_name="user_rfm")
    )
    summary = audited_check_summary(con, "run-1", ["dim_users", "user_rfm", "kpi_daily"])
    assert summary == {
        "dim_users": {"passed": True, "failed_expectations": 0},
        "user_rfm": {"passed": False, "failed_expectations": 1},
        "kpi_daily": {"passed": False, "reason": "suite did not run in this run"},
    }
    # another run's results never vouch for this one
    assert not audited_check_summary(con, "run-2", ["dim_users"])["dim_users"]["passed"]


def test_audit_of_a_missing_mart_fails_stores_and_names_the_table(con):
    audit = audit_tables(con, ["dim_users"], "run-1", as_of=AS_OF, context={"sources": ["crm"]})
    assert not audit.results["dim_users"].success
    assert "marts.dim_users" in audit.reasons["dim_users"]
    assert audit.check_summary() == {
        "dim_users": {"passed": False, "reason": audit.reasons["dim_users"]}
    }
    assert audit.summary().loc["dim_users"].to_dict() == {
        "passed": False,
        "expectations": 1,
        "failed": 1,
    }
    assert run_status(con, "run-1") == {"dim_users": (False, 1)}


def test_a_suite_whose_results_cannot_be_stored_still_blocks(tmp_path):
    path = tmp_path / "build.duckdb"
    duckdb.connect(str(path)).close()
    with duckdb.connect(str(path), read_only=True) as con:
        audit = audit_tables(con, ["dim_users"], "run-1", as_of=AS_OF)
    assert isinstance(audit.results["dim_users"], Exception)
    assert audit.reasons["dim_users"].startswith(type(audit.results["dim_users"]).__name__)
    assert audit.summary().loc["dim_users", "passed"] == False  # noqa: E712 - numpy bool

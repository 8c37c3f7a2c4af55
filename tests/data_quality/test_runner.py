"""Real GX runs on small frames: good frames pass, each broken rule fails, errors never raise."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest
from dq_frames import AS_OF, good_frame, person_ids, reference

from data_quality.runner import (
    SuiteResult,
    columns_needed,
    list_suites,
    load_suite,
    validate_duckdb,
    validate_frame,
)


def _row(result: SuiteResult, expectation: str, column: str | None = None) -> dict:
    rows = [
        r
        for r in result.results
        if r["expectation"] == expectation and (column is None or r["column"] == column)
    ]
    assert len(rows) == 1, f"{expectation}({column}) matched {len(rows)} rows"
    return rows[0]


@pytest.mark.parametrize("table", list_suites())
def test_good_frame_passes(table):
    result = validate_frame(table, good_frame(table), as_of=AS_OF, reference=reference())
    assert result.success, result.summary()
    assert result.n_failed == 0
    assert result.n_expectations == len(load_suite(table).expectations) == len(result.results)
    json.dumps(result.results)  # results are plain JSON (Dagster metadata, results table)


def test_duplicate_person_id_fails_the_key():
    df = good_frame("user_churn_scores")
    df.loc[1, "person_id"] = df.loc[0, "person_id"]
    result = validate_frame("user_churn_scores", df, as_of=AS_OF, reference=reference())
    assert not result.success
    row = _row(result, "expect_column_values_to_be_unique", "person_id")
    assert row["success"] is False
    assert row["unexpected_count"] == 2
    assert [r["expectation"] for r in result.failed] == ["expect_column_values_to_be_unique"]


def test_duplicate_compound_key_fails():
    df = good_frame("kpi_daily")
    df = pd.concat([df, df.iloc[[0]]], ignore_index=True)
    result = validate_frame("kpi_daily", df, as_of=AS_OF)
    assert not _row(result, "expect_compound_columns_to_be_unique", "date,kpi")["success"]


@pytest.mark.parametrize(("share_negative", "passes"), [(0.05, False), (0.005, True)])
def test_negative_amounts_against_mostly(share_negative, passes):
    n = 1000
    df = good_frame("user_ltv", n=n)
    df.loc[: int(n * share_negative) - 1, "clv_365d"] = -10.0
    result = validate_frame("user_ltv", df, as_of=AS_OF, reference=reference(n))
    row = _row(result, "expect_column_values_to_be_between", "clv_365d")
    assert row["mostly"] == 0.99
    assert row["unexpected_count"] == int(n * share_negative)
    assert row["unexpected_percent"] == pytest.approx(100 * share_negative)
    assert row["success"] is passes
    assert result.success is passes


def test_rate_out_of_range_fails():
    df = good_frame("user_churn_scores")
    df.loc[3, "churn_probability"] = 1.2
    result = validate_frame("user_churn_scores", df, as_of=AS_OF, reference=reference())
    row = _row(result, "expect_column_values_to_be_between", "churn_probability")
    assert not row["success"] and row["unexpected_count"] == 1


def test_value_outside_allowed_set_fails():
    df = good_frame("kpi_daily")
    df.loc[0, "status"] = "yellow"
    result = validate_frame("kpi_daily", df, as_of=AS_OF)
    row = _row(result, "expect_column_values_to_be_in_set", "status")
    assert not row["success"]
    assert row["details"] == ["yellow"]


def test_orphan_person_id_fails_the_referential_check():
    df = good_frame("user_segments")
    df.loc[5, "person_id"] = "p_not_in_dim_users"
    result = validate_frame("user_segments", df, as_of=AS_OF, reference=reference())
    row = _row(result, "expect_column_values_to_be_in_reference", "person_id")
    assert not row["success"]
    assert row["unexpected_count"] == 1
    assert row["observed_value"] == {"orphans": 1, "checked": len(df)}
    assert row["details"] == ["p_not_in_dim_users"]
    assert not result.success


def test_reference_accepts_a_bare_key_collection():
    df = good_frame("user_segments")
    result = validate_frame("user_segments", df, as_of=AS_OF, reference=set(person_ids()))
    assert result.success, result.summary()


def test_missing_reference_fails_rather_than_passes():
    result = validate_frame("user_segments", good_frame("user_segments"), as_of=AS_OF)
    row = _row(result, "expect_column_values_to_be_in_reference", "person_id")
    assert not row["success"]
    assert "dim_users.person_id" in row["error"]


def test_action_for_a_user_without_consent_fails():
    df = good_frame("next_best_actions")
    df.loc[0, "person_id"] = person_ids().iloc[1]  # odd rows have consent_marketing False
    result = validate_frame("next_best_actions", df, as_of=AS_OF, reference=reference())
    failed = [(r["expectation"], r["kwargs"].get("reference")) for r in result.failed]
    assert failed == [
        ("expect_column_values_to_be_in_reference", "dim_users.contactable_person_id")
    ]


@pytest.mark.parametrize(
    ("as_of", "passes"),
    [
        (AS_OF, True),
        (AS_OF + pd.Timedelta(days=1), True),
        (AS_OF + pd.Timedelta(days=10), False),
        (AS_OF - pd.Timedelta(days=5), False),
    ],  # too old, then scored in the future
)
def test_freshness_against_as_of(as_of, passes):
    df = good_frame("user_churn_scores")
    result = validate_frame("user_churn_scores", df, as_of=as_of, reference=reference())
    row = _row(result, "expect_column_max_to_be_between", "scored_at")
    assert row["success"] is passes
    assert row["observed_value"] == (AS_OF + pd.Timedelta(hours=3)).isoformat()


def test_freshness_handles_dates_and_time_zones():
    df = good_frame("user_churn_scores")
    df["scored_at"] = df["scored_at"].dt.tz_localize("Asia/Shanghai").dt.tz_convert("UTC")
    assert validate_frame(
        "user_churn_scores", df, as_of="2026-06-30", reference=reference()
    ).success
    df = good_frame("next_best_actions")
    df["action_date"] = df["action_date"].dt.date  # python date objects, as from some readers
    assert validate_frame(
        "next_best_actions", df, as_of=AS_OF.date(), reference=reference()
    ).success


def test_missing_column_gives_a_failed_result_not_an_exception():
    df = good_frame("user_churn_scores").drop(columns=["risk_decile"])
    result = validate_frame("user_churn_scores", df, as_of=AS_OF, reference=reference())
    assert isinstance(result, SuiteResult)
    assert not result.success
    failed = {(r["expectation"], r["column"]) for r in result.failed}
    assert ("expect_table_columns_to_match_set", None) in failed
    assert ("expect_column_values_to_be_between", "risk_decile") in failed
    assert all(r["error"] for r in result.failed if r["column"] == "risk_decile")
    missing = _row(result, "expect_table_columns_to_match_set")["details"]["mismatched"]["missing"]
    assert missing == ["risk_decile"]


@pytest.mark.parametrize(
    ("table", "frame", "message"),
    [
        ("user_churn_scores", None, "DataFrame"),
        ("no_such_table", pd.DataFrame({"a": [1]}), "no data-quality suite"),
        ("user_churn_scores", pd.DataFrame({"person_id": [1]}), ""),
    ],
)
def test_errors_become_failed_results(table, frame, message):
    result = validate_frame(table, frame, as_of=AS_OF, reference=reference())
    assert isinstance(result, SuiteResult)
    assert not result.success and result.n_failed >= 1
    if message:
        assert message in result.error
        assert result.results[0]["expectation"] == "suite_error"


def test_bad_as_of_becomes_a_failed_result():
    result = validate_frame("kpi_daily", good_frame("kpi_daily"), as_of="not a date")
    assert not result.success and result.error


def test_to_frame_has_one_row_per_expectation():
    result = validate_frame("user_ltv", good_frame("user_ltv"), as_of=AS_OF, reference=reference())
    frame = result.to_frame()
    assert len(frame) == result.n_expectations
    assert {
        "table",
        "as_of",
        "expectation",
        "column",
        "success",
        "observed_value",
        "unexpected_count",
        "unexpected_percent",
        "mostly",
    } <= set(frame.columns)
    assert frame["success"].all() and (frame["table"] == "user_ltv").all()
    assert str(frame["unexpected_count"].dtype) == "Int64"
    json.loads(frame["observed_value"].iloc[0])


def test_columns_needed_are_the_suite_columns():
    assert columns_needed("user_churn_scores") == [
        "person_id",
        "churn_probability",
        "risk_decile",
        "model_version",
        "scored_at",
    ]
    assert "ordered_at" in columns_needed("fct_orders")


# ---------------------------------------------------------------- DuckDB path


@pytest.fixture
def con():
    connection = duckdb.connect()
    connection.execute("create schema marts")
    for table in ["dim_users", "user_churn_scores", "next_best_actions", "fct_orders"]:
        frame = good_frame(table)  # noqa: F841 - read by DuckDB's replacement scan
        connection.execute(f"create table marts.{table} as select * from frame")
    yield connection
    connection.close()


def test_validate_duckdb_full_table_with_reference_from_dim_users(con):
    for table in ["dim_users", "user_churn_scores", "next_best_actions"]:
        result = validate_duckdb(con, table, as_of=AS_OF)
        assert result.success, result.summary()
    con.execute(
        "insert into marts.user_churn_scores select 'orphan', 0.5, 3, 'v', scored_at "
        "from marts.user_churn_scores limit 1"
    )
    result = validate_duckdb(con, "user_churn_scores", as_of=AS_OF)
    assert [r["expectation"] for r in result.failed] == ["expect_column_values_to_be_in_reference"]


def test_validate_duckdb_fact_reads_only_aggregates(con):
    result = validate_duckdb(con, "fct_orders", as_of=AS_OF)
    assert result.success, result.summary()
    n_rows = con.execute("select count(*) from marts.fct_orders").fetchone()[0]
    assert _row(result, "expect_table_row_count_to_be_between")["observed_value"] == n_rows
    stale = validate_duckdb(con, "fct_orders", as_of=AS_OF + pd.Timedelta(days=5))
    assert [r["expectation"] for r in stale.failed] == ["expect_column_max_to_be_between"]
    con.execute("delete from marts.fct_orders")
    empty = validate_duckdb(con, "fct_orders", as_of=AS_OF)
    assert not empty.success
    assert _row(empty, "expect_table_row_count_to_be_between")["observed_value"] == 0


def test_validate_duckdb_missing_table_gives_a_failed_result(con):
    result = validate_duckdb(con, "user_ltv", as_of=AS_OF)
    assert not result.success
    assert "marts.user_ltv" in result.error


def test_validate_duckdb_missing_column_is_reported_per_expectation(con):
    con.execute("alter table marts.user_churn_scores drop column model_version")
    result = validate_duckdb(con, "user_churn_scores", as_of=AS_OF)
    failed = {(r["expectation"], r["column"]) for r in result.failed}
    assert failed == {
        ("expect_table_columns_to_match_set", None),
        ("expect_column_values_to_not_be_null", "model_version"),
    }


def test_a_large_user_table_validates_in_seconds():
    n = 200_000
    rng = np.random.default_rng(1)
    ids = pd.Series([f"p{i}" for i in range(n)])
    df = pd.DataFrame(
        {
            "person_id": ids,
            "churn_probability": rng.random(n),
            "risk_decile": rng.integers(1, 11, n),
            "model_version": "v",
            "scored_at": AS_OF,
        }
    )
    result = validate_frame("user_churn_scores", df, as_of=AS_OF, reference=ids)
    assert result.success, result.summary()
    assert result.duration_s < 10


def test_summary_suites_reject_row_level_expectations(tmp_path, monkeypatch):
    import data_quality.runner as runner

    doc = json.loads((runner.SUITES_DIR / "fct_orders.json").read_text())
    doc["expectations"].append(
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "order_id"}}
    )
    (tmp_path / "fct_orders.json").write_text(json.dumps(doc))
    monkeypatch.setattr(runner, "SUITES_DIR", tmp_path)
    with pytest.raises(ValueError, match="summary-mode"):
        load_suite("fct_orders")
    result = validate_frame("fct_orders", good_frame("fct_orders"), as_of=AS_OF)
    assert not result.success and "summary-mode" in result.error


def test_validate_duckdb_snapshot_table_reads_only_the_latest_snapshot(con):
    """user_rfm holds a snapshot per day (about 90 million rows for a year of a million members):
    the gate validates the latest one, the one a run publishes; dbt tests cover the history."""
    latest = good_frame("user_rfm")  # noqa: F841 - read by DuckDB's replacement scan
    con.execute("create table marts.user_rfm as select * from latest")
    # an older snapshot breaking the scores' range is not read ...
    con.execute(
        "insert into marts.user_rfm select * replace (as_of_date - interval 1 day as as_of_date, "
        "9 as r_score) from marts.user_rfm"
    )
    result = validate_duckdb(con, "user_rfm", as_of=AS_OF)
    assert result.success, result.summary()
    assert _row(result, "expect_table_row_count_to_be_between")["observed_value"] == len(latest)
    # ... the latest one is
    con.execute(
        "update marts.user_rfm set r_score = 9 where as_of_date = (select max(as_of_date) "
        "from marts.user_rfm) and person_id = (select min(person_id) from marts.user_rfm)"
    )
    failed = validate_duckdb(con, "user_rfm", as_of=AS_OF)
    assert "r_score" in {r["column"] for r in failed.failed}, failed.summary()


def test_latest_of_is_only_for_full_mode_suites(tmp_path, monkeypatch):
    import data_quality.runner as runner

    suite = json.loads((runner.SUITES_DIR / "fct_orders.json").read_text(encoding="utf-8"))
    suite["latest_of"] = "ordered_at"
    (tmp_path / "fct_orders.json").write_text(json.dumps(suite), encoding="utf-8")
    monkeypatch.setattr(runner, "SUITES_DIR", tmp_path)
    with pytest.raises(ValueError, match="latest_of"):
        runner.load_suite("fct_orders")

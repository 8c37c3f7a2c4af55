"""reporting.daily.read_report_inputs on a real serving-shaped DuckDB file."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from reporting.daily import read_report_inputs


def _table(con, name: str, frame: pd.DataFrame) -> None:
    con.register("f", frame)
    con.execute(f"create table {name} as select * from f")
    con.unregister("f")


def test_the_report_reads_the_latest_kpi_day_and_every_registration(tmp_path):
    with duckdb.connect(str(tmp_path / "serving.duckdb")) as con:
        con.execute("create schema marts")
        _table(con, "marts._publication", pd.DataFrame({"version": ["v000003-20260503T010000Z"]}))
        _table(
            con,
            "marts.kpi_daily",
            pd.DataFrame(
                {
                    "date": [dt.date(2026, 5, 1), dt.date(2026, 5, 2)],
                    "kpi": ["churn_rate"] * 2,
                    "value": [0.3, 0.2],
                    "target": [0.25] * 2,
                    "status": ["red", "green"],
                    "trailing_28d": [0.3, 0.25],
                    "change_pct": [0.0, -0.2],
                    "is_anomaly": [False, True],
                }
            ),
        )
        _table(
            con,
            "marts.dim_users",
            pd.DataFrame(
                {
                    "first_seen_date": [
                        dt.date(2026, 5, 1),
                        dt.date(2026, 5, 1),
                        dt.date(2026, 5, 2),
                    ],
                    "first_channel": ["store", "store", "wecom"],
                }
            ),
        )
        _table(
            con,
            "marts.retention_cohorts",
            pd.DataFrame(
                {
                    "cohort_date": [dt.date(2026, 5, 1)],
                    "cohort_channel": ["store"],
                    "day_n": [1],
                    "cohort_size": [2],
                    "retained_users": [1],
                }
            ),
        )
        inputs = read_report_inputs(con)
    assert inputs.report_date == dt.date(2026, 5, 2)
    assert inputs.publication_version == "v000003-20260503T010000Z"
    assert inputs.kpis[["kpi", "value", "is_anomaly"]].values.tolist() == [
        ["churn_rate", 0.2, True]
    ]
    assert inputs.registrations.values.tolist() == [
        [pd.Timestamp("2026-05-01"), "store", 2],
        [pd.Timestamp("2026-05-02"), "wecom", 1],
    ]
    # every point, however small: the report draws the big ones and names the others
    assert inputs.retention[["day_n", "cohort_size"]].values.tolist() == [[1, 2]]


def test_an_empty_kpi_mart_says_there_is_no_day_to_report(tmp_path):
    with duckdb.connect(str(tmp_path / "serving.duckdb")) as con:
        con.execute("create schema marts")
        _table(con, "marts._publication", pd.DataFrame({"version": ["v1"]}))
        con.execute("create table marts.kpi_daily (date date, kpi varchar)")
        with pytest.raises(ValueError, match="kpi_daily is empty"):
            read_report_inputs(con)

"""The business alarms' library (reporting.monitors) on a real DuckDB holding the real
kpi_targets seed: the limits are the seed's rows, judged on the latest day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from reporting.monitors import (
    kpi_limit,
    read_kpi_anomalies,
    read_kpi_limits,
    read_layer_engagement,
    read_threshold,
)

SEED = Path(__file__).parents[2] / "dbt_project" / "seeds" / "kpi_targets.csv"


def _table(con, name: str, frame: pd.DataFrame) -> None:
    con.register("f", frame)
    con.execute(f"create or replace table {name} as select * from f")
    con.unregister("f")


@pytest.fixture
def con(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create schema seeds")
        con.execute("create schema marts")
        con.execute(
            "create table seeds.kpi_targets as select * from read_csv(?, header = true)",
            [str(SEED)],
        )
        yield con


def _engagement(con, **latest) -> None:
    older = {
        "date": dt.date(2026, 5, 1),
        "over_touch_3d_share": 0.9,
        "community_share": 0.9,
        "sla_2h_breach_rate": 0.9,
    }
    _table(
        con,
        "marts.engagement_daily",
        pd.DataFrame([older, {**older, "date": dt.date(2026, 5, 2), **latest}]),
    )


def test_the_limits_are_the_seed_rows(con):
    limits = read_kpi_limits(con)
    seed = pd.read_csv(SEED).set_index("kpi")
    assert set(limits) == set(seed.index)
    for kpi in (
        "over_touch_3d_share",
        "over_touch_7d_share",
        "community_share",
        "sla_2h_breach_rate",
    ):
        assert limits[kpi].target == seed.loc[kpi, "target"]
        assert limits[kpi].direction == "lower_is_better"


def test_a_threshold_judges_the_latest_day_against_the_seed(con):
    _engagement(con, over_touch_3d_share=0.08, community_share=0.30, sla_2h_breach_rate=None)
    over = read_threshold(con, "over_touch_3d_share")
    assert (over.date, over.value, over.limit.target, over.passed) == (
        dt.date(2026, 5, 2),
        0.08,
        0.05,
        False,
    )
    assert over.finding == "over_touch_3d_share 8.0% on 2026-05-02, above 5%"
    community = read_threshold(con, "community_share")
    assert community.passed and community.finding is None
    sla = read_threshold(con, "sla_2h_breach_rate")
    assert not sla.measured and sla.passed


def test_editing_the_seed_row_moves_the_limit(con):
    _engagement(con, over_touch_3d_share=0.08)
    con.execute("update seeds.kpi_targets set target = 0.10 where kpi = 'over_touch_3d_share'")
    assert read_threshold(con, "over_touch_3d_share").passed


def test_a_higher_is_better_limit_alarms_below_its_target(con):
    limit = kpi_limit(con, "next_day_retention")
    assert limit.within(limit.target) and not limit.within(limit.target - 0.01)


def test_a_kpi_without_a_seed_row_names_the_file_to_edit(con):
    _engagement(con)
    with pytest.raises(KeyError, match="kpi_targets.csv"):
        read_threshold(con, "touches")


def test_an_empty_engagement_mart_is_no_measurement(con):
    _table(
        con,
        "marts.engagement_daily",
        pd.DataFrame(
            {
                "date": pd.Series([], dtype="datetime64[us]"),
                "community_share": pd.Series([], dtype="float"),
            }
        ),
    )
    reading = read_threshold(con, "community_share")
    assert reading.date is None and not reading.measured and reading.passed


def test_kpi_anomalies_name_the_moving_kpi_and_the_seed_threshold(con):
    kpis = pd.DataFrame(
        {
            "date": [dt.date(2026, 5, 1), dt.date(2026, 5, 2), dt.date(2026, 5, 2)],
            "kpi": ["interaction_rate", "interaction_rate", "churn_rate"],
            "value": [0.1, 0.4, 0.2],
            "target": [0.35, 0.35, 0.25],
            "status": ["red", "green", "red"],
            "trailing_28d": [0.3, 0.3, 0.2],
            "change_pct": [0.9, 0.33, 0.0],
            "is_anomaly": [True, True, False],
        }
    )
    _table(con, "marts.kpi_daily", kpis)
    result = read_kpi_anomalies(con)
    assert list(result.latest["kpi"]) == ["churn_rate", "interaction_rate"]
    assert not result.passed and result.red == 1
    assert list(result.anomalies["kpi"]) == ["interaction_rate"]
    assert result.finding == "moved more than 15% from trailing 28 days: interaction_rate +33%"
    con.execute("update marts.kpi_daily set is_anomaly = false")
    calm = read_kpi_anomalies(con)
    assert calm.passed and calm.finding is None


def _layers(con, rows: list[dict]) -> None:
    base = {
        "persons": 100,
        "interaction_rate": 0.5,
        "target": None,
        "meets_target": None,
        "trailing_28d": 0.5,
        "change_pct": 0.0,
        "is_anomaly": False,
    }
    frame = pd.DataFrame([{**base, **r} for r in rows])
    frame["meets_target"] = frame["meets_target"].astype("boolean")
    _table(con, "marts.engagement_by_layer", frame)


def test_layer_engagement_names_layers_below_target_and_moving_on_the_latest_day(con):
    older = dt.date(2026, 5, 1)
    latest = dt.date(2026, 5, 2)
    _layers(
        con,
        [
            # the older day would alarm on everything; only the latest day counts
            {"date": older, "layer_type": "rfm_tier", "layer_value": "high_value",
             "interaction_rate": 0.1, "target": 0.6, "meets_target": False, "is_anomaly": True},
            {"date": latest, "layer_type": "rfm_tier", "layer_value": "high_value",
             "interaction_rate": 0.55, "target": 0.6, "meets_target": False},
            {"date": latest, "layer_type": "segment", "layer_value": "dormant",
             "change_pct": -0.2, "is_anomaly": True},
            {"date": latest, "layer_type": "segment", "layer_value": "unscored"},
        ],
    )  # fmt: skip
    layers = read_layer_engagement(con)
    assert layers.date == latest and len(layers.latest) == 3 and not layers.passed
    assert list(layers.below_target.layer_value) == ["high_value"]
    assert list(layers.anomalies.layer_value) == ["dormant"]
    assert layers.finding == (
        "below target on 2026-05-02: rfm_tier high_value 55.0% (target 60%); moved beyond the "
        "anomaly threshold from trailing 28 days: segment dormant -20%"
    )


def test_layer_engagement_passes_when_targets_are_met_and_nothing_moves(con):
    _layers(
        con,
        [
            {"date": dt.date(2026, 5, 2), "layer_type": "rfm_tier", "layer_value": "high_value",
             "interaction_rate": 0.7, "target": 0.6, "meets_target": True},
            {"date": dt.date(2026, 5, 2), "layer_type": "segment", "layer_value": "unscored"},
        ],
    )  # fmt: skip
    layers = read_layer_engagement(con)
    assert layers.passed and layers.finding is None

"""The seed's business alarms as WARN checks, on a hand-made warehouse."""

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from orchestration.defs.monitors import (
    community_share,
    kpi_anomalies,
    layer_interaction_targets,
    over_touch_3d,
    over_touch_7d,
    retention_curve,
    sla_breach,
)
from orchestration.lib.resources import WarehouseResource

KPI_TARGETS_CSV = Path(__file__).parents[2] / "dbt_project" / "seeds" / "kpi_targets.csv"


def _warehouse(tmp_path, cohort_sizes: tuple[int, int] = (10, 20)) -> WarehouseResource:
    """Two day-1 cohorts (store, wecom); by default store pools fewer than MIN_COHORT_SIZE."""
    path = tmp_path / "w.duckdb"
    engagement = pd.DataFrame(
        {
            "date": [dt.date(2026, 5, 1), dt.date(2026, 5, 2)],
            # the older day would fail every alarm; only the latest day counts
            "over_touch_3d_share": [0.50, 0.08],
            "over_touch_7d_share": [0.50, 0.01],
            "community_share": [0.90, 0.30],
            "sla_2h_breach_rate": [0.90, 0.12],
        }
    )
    kpis = pd.DataFrame(
        {
            "date": [dt.date(2026, 5, 2)] * 2,
            "kpi": ["interaction_rate", "churn_rate"],
            "value": [0.4, 0.2],
            "target": [0.35, 0.25],
            "status": ["green", "red"],
            "trailing_28d": [0.3, 0.2],
            "change_pct": [0.33, 0.0],
            "is_anomaly": [True, False],
        }
    )
    cohorts = pd.DataFrame(
        {
            "cohort_date": [dt.date(2026, 5, 1)] * 2,
            "cohort_channel": ["store", "wecom"],
            "day_n": [1, 1],
            "cohort_size": list(cohort_sizes),
            "retained_users": [3, 4],
        }
    )
    layers = pd.DataFrame(
        {
            "date": [dt.date(2026, 5, 2)] * 2,
            "layer_type": ["rfm_tier", "segment"],
            "layer_value": ["high_value", "dormant"],
            "persons": [80, 300],
            "interaction_rate": [0.55, 0.4],
            "target": [0.6, None],
            "meets_target": pd.array([False, None], dtype="boolean"),
            "trailing_28d": [0.56, 0.4],
            "change_pct": [-0.02, 0.0],
            "is_anomaly": [False, False],
        }
    )
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        for name, frame in [
            ("engagement_daily", engagement),
            ("kpi_daily", kpis),
            ("retention_cohorts", cohorts),
            ("engagement_by_layer", layers),
        ]:
            con.register("f", frame)
            con.execute(f"create table marts.{name} as select * from f")
            con.unregister("f")
        # the alarms' limits are rows of the dbt seed, as dbt builds it into the warehouse
        con.execute("create schema seeds")
        con.execute(
            "create table seeds.kpi_targets as select * from read_csv(?, header = true)",
            [str(KPI_TARGETS_CSV)],
        )
    return WarehouseResource(path=str(path))


def test_thresholds_judge_the_latest_day_with_warn_severity(tmp_path):
    warehouse = _warehouse(tmp_path)
    results = [
        c(warehouse=warehouse) for c in (over_touch_3d, over_touch_7d, community_share, sla_breach)
    ]
    assert [r.passed for r in results] == [False, True, True, False]
    assert all(r.severity == dg.AssetCheckSeverity.WARN for r in results)
    over = results[0]
    assert (
        over.metadata["over_touch_3d_share"].value == 0.08 and over.metadata["limit"].value == 0.05
    )


def test_kpi_anomalies_name_the_moving_kpi(tmp_path):
    result = kpi_anomalies(warehouse=_warehouse(tmp_path))
    assert not result.passed and result.metadata["anomalies"].value == "interaction_rate"
    assert result.metadata["red"].value == 1


def test_layer_targets_warn_on_a_layer_below_its_target(tmp_path):
    result = layer_interaction_targets(warehouse=_warehouse(tmp_path))
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["below_target"].value == "high_value"
    assert result.metadata["anomalies"].value == "none"
    assert "rfm_tier high_value 55.0% (target 60%)" in result.description


def test_retention_curve_is_a_picture_and_a_missing_table_is_a_warning(tmp_path):
    result = retention_curve(warehouse=_warehouse(tmp_path))
    assert result.passed and "data:image/png;base64," in result.metadata["curve"].value
    duckdb.connect(str(tmp_path / "empty.duckdb")).close()
    empty = WarehouseResource(path=str(tmp_path / "empty.duckdb"))
    broken = retention_curve(warehouse=empty)
    assert not broken.passed and broken.severity == dg.AssetCheckSeverity.WARN
    assert "retention_cohorts" in broken.metadata["error"].value


def test_retention_curve_names_the_channels_it_leaves_out(tmp_path):
    result = retention_curve(warehouse=_warehouse(tmp_path))
    left_out = result.metadata["left_out"].value
    # store pools 10 persons, below MIN_COHORT_SIZE (20): not drawn, and said so
    assert "`store`: every day N (10 persons)" in left_out and "wecom" not in left_out
    assert "wecom" in result.metadata["retention_last_day"].value
    assert "store" not in result.metadata["retention_last_day"].value
    (tmp_path / "big").mkdir()
    every = retention_curve(warehouse=_warehouse(tmp_path / "big", cohort_sizes=(20, 30)))
    assert "none is left out" in every.metadata["left_out"].value


def test_retention_curve_with_every_point_too_small_says_so(tmp_path):
    result = retention_curve(warehouse=_warehouse(tmp_path, cohort_sizes=(5, 8)))
    assert result.passed and "curve" not in result.metadata
    left_out = result.metadata["left_out"].value
    assert (
        "`store`: every day N (5 persons)" in left_out
        and "`wecom`: every day N (8 persons)" in left_out
    )
    assert "no point pools at least 20 persons" in result.metadata["note"].value

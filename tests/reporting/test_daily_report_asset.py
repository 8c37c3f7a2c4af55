"""The reports/daily_report asset on a hand-made published DuckDB file: the retention curve leaves
out points that pool too few persons (and says so), and the Dagster preview embeds its charts."""

from __future__ import annotations

import datetime as dt
import re

import dagster as dg
import duckdb
import pandas as pd

from orchestration.defs.reports import daily_report
from orchestration.lib.resources import SiyuSettingsResource
from reporting.retention import MIN_COHORT_SIZE
from reporting.retention import read_retention_curve as retention_curve
from tests.conftest import make_settings

DAY = dt.date(2026, 5, 1)


def _cohorts() -> pd.DataFrame:
    """Two store cohorts (10 and 40 persons, 3 and 4 back on day 1), one wecom cohort of 60 and a
    single `other` person who came back on every day: 100% on a sample of one."""
    rows = []
    for day_n in (1, 2, 3):
        rows += [
            (DAY, "store", day_n, 10, 3 if day_n == 1 else 1),
            (DAY + dt.timedelta(days=1), "store", day_n, 40, 4 if day_n == 1 else 2),
            (DAY, "wecom", day_n, 60, 12 // day_n),
            (DAY, "other", day_n, 1, 1),
        ]
    frame = pd.DataFrame(
        rows, columns=["cohort_date", "cohort_channel", "day_n", "cohort_size", "retained_users"]
    )
    return frame.assign(retention_rate=frame["retained_users"] / frame["cohort_size"])


def _serving_db(path) -> None:
    kpis = pd.DataFrame(
        {
            "date": [DAY + dt.timedelta(days=3)] * 2,
            "kpi": ["interaction_rate", "churn_rate"],
            "value": [0.4, 0.2],
            "target": [0.35, 0.25],
            "status": ["green", "green"],
            "trailing_28d": [0.3, 0.2],
            "change_pct": [0.1, 0.0],
            "is_anomaly": [False, False],
        }
    )
    users = pd.DataFrame(
        {
            "person_id": [f"p{i}" for i in range(111)],
            "first_seen_date": [DAY] * 71 + [DAY + dt.timedelta(days=1)] * 40,
            "first_channel": ["store"] * 10 + ["wecom"] * 60 + ["other"] + ["store"] * 40,
        }
    )
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts._publication as select 'v000007-20260505T060000Z' as version"
        )
        for name, frame in [
            ("kpi_daily", kpis),
            ("dim_users", users),
            ("retention_cohorts", _cohorts()),
        ]:
            con.register("f", frame)
            con.execute(f"create table marts.{name} as select * from f")
            con.unregister("f")


def test_retention_curve_pools_by_size_and_leaves_out_a_one_person_cohort(tmp_path):
    _serving_db(tmp_path / "serving.duckdb")
    with duckdb.connect(str(tmp_path / "serving.duckdb"), read_only=True) as con:
        curve = retention_curve(con)
        assert set(curve["cohort_channel"]) == {"store", "wecom"}
        every_point = retention_curve(con, min_cohort_size=0)

    assert MIN_COHORT_SIZE > 1
    store_d1 = curve[(curve["cohort_channel"] == "store") & (curve["day_n"] == 1)].iloc[0]
    # weighted by cohort size: (3 + 4) / (10 + 40), not the mean of 30% and 10%
    assert store_d1["retention"] == 7 / 50 and store_d1["cohort_size"] == 50
    other = every_point[every_point["cohort_channel"] == "other"]
    assert list(other["retention"]) == [1.0, 1.0, 1.0] and list(other["cohort_size"]) == [1] * 3


def test_daily_report_leaves_out_small_cohorts_and_embeds_its_charts_in_the_preview(tmp_path):
    settings = make_settings(tmp_path / "data")
    settings.serving_path.parent.mkdir(parents=True, exist_ok=True)
    _serving_db(settings.serving_path)

    result = dg.materialize(
        [daily_report], resources={"siyu": SiyuSettingsResource(**settings.as_strings())}
    )

    (materialization,) = result.asset_materializations_for_node("reports__daily_report")
    preview = materialization.metadata["preview"].value
    images = re.findall(r"!\[[^\]]*\]\(([^)]*)\)", preview)
    assert len(images) == 3 and all(i.startswith("data:image/png;base64,") for i in images)
    assert not re.search(r"\]\((?!data:)[^)]*\.png\)", preview), "no relative image link"
    assert "## Change log" in preview  # the whole report, not cut short
    # the file on disk keeps relative links to the PNG files beside it
    report = settings.reports_dir / "2026-05-04_RPT_daily_v1.md"
    text = report.read_text(encoding="utf-8")
    linked = re.findall(r"!\[[^\]]*\]\(([^)]*)\)", text)
    assert len(linked) == 3 and all((settings.reports_dir / name).is_file() for name in linked)
    # the 1-person channel is not drawn, and the report says so
    assert "- `other`: every day N (1 person)" in text and "- `other`" in preview
    assert "`store`" not in text.split("## Charts")[1].split("## Change log")[0]

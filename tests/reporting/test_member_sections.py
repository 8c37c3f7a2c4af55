"""The daily report's registration funnel and member satisfaction sections (reporting.members),
from hand-made frames shaped like the published marts and through a serving-shaped DuckDB file."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd

from reporting.daily import ReportInputs, read_report_inputs, write_report
from reporting.members import funnel_lines, satisfaction_lines


def _funnel() -> pd.DataFrame:
    """Two months of two channels: the online mall loses most at the phone (30 of 100 visitors
    authorise), the store at the first order (20 of 80 members order)."""
    rows = []
    for month, extra in ((dt.date(2026, 5, 1), 0), (dt.date(2026, 6, 1), 10)):
        rows += [
            ("online_mall", month, 100 + extra, 30, 30, 20, "authorised_phone"),
            ("store", month, 100 + extra, 80, 80, 20, "first_order"),
        ]
    frame = pd.DataFrame(
        rows,
        columns=[
            "channel",
            "visit_month",
            "visits",
            "authorised_phone_users",
            "members",
            "first_order_users",
            "largest_drop_step",
        ],
    )
    return frame.assign(miniprogram_users=frame["authorised_phone_users"])


def _satisfaction() -> pd.DataFrame:
    months = pd.date_range("2026-05-01", periods=3, freq="MS")
    counts = [[1, 1, 2, 6, 10], [6, 5, 5, 2, 2], [1, 1, 2, 6, 10]]  # June dips
    frame = pd.DataFrame({"feedback_month": months})
    for s in range(1, 6):
        frame[f"score_{s}_count"] = [c[s - 1] for c in counts]
    scored = frame[[f"score_{s}_count" for s in range(1, 6)]].sum(axis=1)
    nps = (
        100
        * (
            frame["score_5_count"]
            - frame[["score_1_count", "score_2_count", "score_3_count"]].sum(axis=1)
        )
        / scored
    )
    return frame.assign(
        feedback_count=scored,
        scored_count=scored,
        avg_score=(frame[[f"score_{s}_count" for s in range(1, 6)]] * np.arange(1, 6)).sum(axis=1)
        / scored,
        nps=nps,
        nps_change=nps.diff(),
    )


def test_the_funnel_section_names_each_channels_weakest_step():
    text = "\n".join(funnel_lines(_funnel()))
    cells = {
        row[0]: row
        for line in text.splitlines()
        if line.startswith("|") and (row := [c.strip() for c in line.strip("|").split("|")])
    }
    # totals over both months: 210 visits, 60 authorised (29%), 60 members, 40 first orders
    assert cells["online_mall"] == [
        "online_mall",
        "210",
        "60",
        "60",
        "40",
        "29%",
        "100%",
        "67%",
        "authorised_phone",
    ]
    assert cells["store"][-4:] == ["76%", "100%", "25%", "first_order"]
    header = [c.strip() for c in text.splitlines()[2].strip("|").split("|")]
    assert header[-4:] == ["phone rate", "member rate", "first order rate", "loses most"]


def test_the_satisfaction_section_lists_months_and_names_the_dip():
    lines = satisfaction_lines(_satisfaction())
    text = "\n".join(lines)
    assert "| 2026-06 |" in text and "30% / 25% / 25% / 10% / 10%" in text
    assert "Lowest NPS: 2026-06 (-70.0, 20 scores)." in text
    assert "+30.0" in text and "-100.0" in text  # May's NPS, June's change


def test_empty_marts_say_what_is_missing():
    assert funnel_lines(pd.DataFrame()) == [
        "No registration funnel published (it needs the mini-program's extracts)."
    ]
    assert satisfaction_lines(pd.DataFrame()) == ["No member feedback published yet."]


def _inputs(**members) -> ReportInputs:
    return ReportInputs(
        report_date=dt.date(2026, 7, 1),
        publication_version="v000004-20260702T060000Z",
        kpis=pd.DataFrame(
            {
                "kpi": ["churn_rate"],
                "value": [0.2],
                "target": [0.25],
                "status": ["green"],
                "trailing_28d": [0.2],
                "change_pct": [0.0],
                "is_anomaly": [False],
            }
        ),
        registrations=pd.DataFrame(
            {"date": [pd.Timestamp("2026-06-30")], "channel": ["store"], "registrations": [3]}
        ),
        retention=pd.DataFrame(columns=["day_n", "cohort_channel", "retention", "cohort_size"]),
        **members,
    )


def test_the_report_carries_both_sections(tmp_path):
    path = write_report(_inputs(funnel=_funnel(), satisfaction=_satisfaction()), tmp_path)
    text = path.read_text(encoding="utf-8")
    funnel = text.split("## Registration funnel")[1].split("## Member satisfaction")[0]
    satisfaction = text.split("## Member satisfaction")[1].split("## Charts")[0]
    assert "online_mall" in funnel and "authorised_phone" in funnel
    assert "Lowest NPS: 2026-06" in satisfaction
    # a serving file from before these marts: the report still renders and says so
    older = write_report(_inputs(), tmp_path).read_text(encoding="utf-8")
    assert "No registration funnel published" in older and "No member feedback published" in older


def test_the_inputs_read_the_marts_when_published(tmp_path):
    with duckdb.connect(str(tmp_path / "serving.duckdb")) as con:
        con.execute("create schema marts")
        con.execute("create table marts._publication as select 'v000001-x' as version")
        con.execute(
            "create table marts.kpi_daily as select date '2026-06-30' as date, 'churn_rate' as kpi, "
            "0.2 as value, 0.25 as target, 'green' as status, 0.2 as trailing_28d, "
            "0.0 as change_pct, false as is_anomaly"
        )
        con.execute(
            "create table marts.dim_users as select date '2026-06-30' as first_seen_date, "
            "'store' as first_channel"
        )
        con.execute(
            "create table marts.retention_cohorts as select date '2026-06-29' as cohort_date, "
            "'store' as cohort_channel, 1 as day_n, 1 as cohort_size, 0 as retained_users"
        )
        before = read_report_inputs(con)
        for name, frame in (
            ("registration_funnel", _funnel()),
            ("feedback_satisfaction", _satisfaction()),
        ):
            con.register("f", frame)
            con.execute(f"create table marts.{name} as select * from f")
            con.unregister("f")
        after = read_report_inputs(con)
    assert before.funnel.empty and before.satisfaction.empty
    assert len(after.funnel) == 4 and set(after.funnel["channel"]) == {"online_mall", "store"}
    assert len(after.satisfaction) == 3

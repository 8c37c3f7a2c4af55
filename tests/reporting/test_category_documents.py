"""REG, ACT and FBK documents (seed 001's categories) from a hand-made published file with known
answers: the figures, the versions and their change log, the index by category, and the
self-contained HTML pages."""

from __future__ import annotations

import datetime as dt
import re

import dagster as dg
import duckdb
import pandas as pd
import pytest

from orchestration.defs.reports import category_documents
from orchestration.lib.resources import SiyuSettingsResource
from reporting.categories import write_category_documents
from reporting.documents import Document, to_html, write_document
from tests.conftest import make_settings

DAY = dt.date(2026, 6, 30)


def _users() -> pd.DataFrame:
    """On DAY: 5 store and 2 wecom registrations; the 7 days before: 14 store (2 a day), no wecom;
    a miniprogram person from long before the 28-day trend."""
    rows = [(f"s{i}", DAY, "store") for i in range(5)] + [(f"w{i}", DAY, "wecom") for i in range(2)]
    for back in range(1, 8):
        rows += [(f"b{back}_{i}", DAY - dt.timedelta(days=back), "store") for i in range(2)]
    rows.append(("old", DAY - dt.timedelta(days=90), "miniprogram"))
    return pd.DataFrame(rows, columns=["person_id", "first_seen_date", "first_channel"])


def _experiments(empty: bool) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "experiment_id": ["exp_01", "exp_01"],
            "variant": ["control", "treatment"],
            "users": [1000, 1000],
            "conversions": [100, 150],
            "conversion_rate": [0.10, 0.15],
            "lift_vs_control": [None, 0.05],
            "ci_low": [None, 0.02],
            "ci_high": [None, 0.08],
            "p_value": [None, 0.001],
        }
    )
    return frame.iloc[0:0] if empty else frame


def _feedback(dip: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "feedback_month": [dt.date(2026, 5, 1), dt.date(2026, 6, 1)],
            "feedback_count": [40, 50],
            "avg_score": [4.1, 3.2],
            "nps": [30.0, dip],
            "nps_change": [None, dip - 30.0],
        }
    )


def _funnel() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "channel": ["online_mall", "store", "store"],
            "visit_month": [dt.date(2026, 6, 1), dt.date(2026, 6, 1), dt.date(2026, 5, 1)],
            "visits": [900, 300, 111],
            "largest_drop_step": ["authorised_phone", "member", "first_order"],
        }
    )


def serving_db(
    path,
    *,
    store_today: int = 5,
    empty_experiments: bool = False,
    feedback_dip: float | None = None,
) -> None:
    users = _users()
    users = pd.concat(
        [users[~users["person_id"].str.startswith("s")]]
        + [
            pd.DataFrame(
                [(f"s{i}", DAY, "store") for i in range(store_today)], columns=users.columns
            )
        ]
    )
    tables = {
        "kpi_daily": pd.DataFrame(
            {"date": [DAY - dt.timedelta(days=1), DAY], "kpi": "x", "value": 1.0}
        ),
        "dim_users": users,
        "registration_forecast": pd.DataFrame(
            {
                "date": [DAY, DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=8)],
                "channel": "store",
                "forecast": [9.0, 3.5, 4.0],
                "lower_80": [1.0, 2.0, 2.0],
                "upper_80": [5.0, 5.0, 6.0],
            }
        ),
        "experiment_results": _experiments(empty_experiments),
        "interaction_retention": pd.DataFrame(
            {"interaction_frequency_bucket": ["0", "1-2"], "scenario": "all", "users": [10, 20]}
        ),
        "next_best_actions": pd.DataFrame(
            {
                "person_id": ["a", "b", "c"],
                "action_date": [DAY + dt.timedelta(days=1)] * 3,
                "scenario": ["winback", "winback", "birthday"],
                "action": ["coupon", "coupon", "greeting"],
                "channel": ["wecom", "wecom", "sms"],
            }
        ),
    }
    if feedback_dip is not None:
        tables["feedback_satisfaction"] = _feedback(feedback_dip)
        tables["registration_funnel"] = _funnel()
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts._publication as select 'v000003-20260701T060000Z' as version"
        )
        for name, frame in tables.items():
            con.register("f", frame)
            con.execute(f"create table marts.{name} as select * from f")
            con.unregister("f")


def _write(tmp_path, **kwargs):
    tmp_path.mkdir(parents=True, exist_ok=True)
    db = tmp_path / f"serving_{len(list(tmp_path.glob('serving_*')))}.duckdb"
    serving_db(db, **kwargs)
    with duckdb.connect(str(db), read_only=True) as con:
        return write_category_documents(con, tmp_path / "reports")


def test_the_three_documents_are_named_by_day_type_and_version(tmp_path):
    paths = _write(tmp_path)
    assert [p.name for p in paths] == [
        "2026-06-30_REG_registrations_v1.md",
        "2026-06-30_ACT_campaigns_v1.md",
        "2026-06-30_FBK_feedback_v1.md",
    ]
    for path in paths:
        assert path.with_suffix(".html").is_file()


def test_reg_counts_the_day_by_channel_against_the_week_before_and_tables_the_next_7_days(
    tmp_path,
):
    reg = _write(tmp_path)[0].read_text(encoding="utf-8")
    table = reg.split("## Registrations by first channel")[1].split("## Forecast")[0]
    rows = {
        cells[0]: cells[1:]
        for line in table.splitlines()
        if line.startswith("|") and (cells := [c.strip() for c in line.strip("|").split("|")])
    }
    # store: 5 today, 14 over the 7 days before (2.0 a day) -> +150%; wecom: 2, none before
    assert rows["store"][:3] == ["5", "2.000", "1.500"]
    assert rows["wecom"][:2] == ["2", "0.000"]
    assert "miniprogram" not in rows  # not registered in the trend's 28 days
    assert "Total 7 on 2026-06-30." in reg
    forecast = reg.split("## Forecast")[1].split("## Funnel")[0]
    assert "2026-07-01" in forecast and "3.500" in forecast
    assert "2026-06-30" not in forecast and "2026-07-08" not in forecast  # today, day 8: out
    assert "`marts.registration_funnel` is not in this publication." in reg
    assert re.search(r"!\[[^\]]*\]\(2026-06-30_REG_registrations_v1_trend\.png\)", reg)


def test_act_shows_the_lift_and_an_empty_experiment_list_says_so(tmp_path):
    act = _write(tmp_path / "a")[1].read_text(encoding="utf-8")
    assert "exp_01" in act and "_ACT_campaigns_v1_lift.png" in act
    assert "| winback    | coupon   | wecom     |         2 |" in act
    assert "`marts.campaign_roi` is not in this publication." in act

    empty = _write(tmp_path / "b", empty_experiments=True)[1].read_text(encoding="utf-8")
    assert "No experiment in this publication (the experiment list is empty)." in empty
    assert "_lift.png" not in empty


def test_a_second_version_logs_what_changed_and_the_index_lists_every_category(tmp_path):
    _write(tmp_path)
    second = _write(tmp_path, store_today=8)
    reg_v2 = second[0]
    assert reg_v2.name == "2026-06-30_REG_registrations_v2.md"
    assert (tmp_path / "reports" / "2026-06-30_REG_registrations_v1.md").is_file()  # kept
    log = reg_v2.read_text(encoding="utf-8").split("## Change log")[1]
    assert "- v2: registrations:store 5.000 -> 8.000" in log and "wecom" not in log
    act_log = second[1].read_text(encoding="utf-8").split("## Change log")[1]
    assert "- v2: regenerated; no figure changed." in act_log

    index = (tmp_path / "reports" / "index.md").read_text(encoding="utf-8")
    sections = {s.split("\n")[0]: s for s in index.split("## ")[1:]}
    assert set(sections) == {
        "RPT: Data analysis reports",
        "REG: Registrations",
        "ACT: Campaigns and experiments",
        "FBK: Customer feedback",
    }
    assert "No document yet." in sections["RPT: Data analysis reports"]
    reg = sections["REG: Registrations"]
    assert reg.index("registrations_v2.md") < reg.index("registrations_v1.md")
    assert "[html](2026-06-30_REG_registrations_v2.html)" in reg
    assert (tmp_path / "reports" / "index.html").is_file()


def test_the_html_page_embeds_every_chart_and_escapes_raw_html(tmp_path):
    reg = _write(tmp_path)[0]
    page = reg.with_suffix(".html").read_text(encoding="utf-8")
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<table>" in page and "<h2>Forecast</h2>" in page

    document = Document("FBK", "note", DAY, "Note", ["<script>alert(1)</script>"])
    page = write_document(document, tmp_path / "x").with_suffix(".html").read_text(encoding="utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert 'href="javascript:' not in to_html("[x](javascript:alert(1))", "t")


def test_an_unknown_document_type_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown document type 'XYZ'"):
        write_document(Document("XYZ", "n", DAY, "t", []), tmp_path)


def test_the_asset_writes_the_documents_from_the_published_file(tmp_path):
    settings = make_settings(tmp_path / "data")
    settings.serving_path.parent.mkdir(parents=True, exist_ok=True)
    serving_db(settings.serving_path)
    result = dg.materialize(
        [category_documents], resources={"siyu": SiyuSettingsResource(**settings.as_strings())}
    )
    (materialization,) = result.asset_materializations_for_node("reports__category_documents")
    assert "2026-06-30_FBK_feedback_v1.md" in materialization.metadata["documents"].value
    fbk = (settings.reports_dir / "2026-06-30_FBK_feedback_v1.md").read_text(encoding="utf-8")
    assert "`marts.feedback_satisfaction` is not in this publication." in fbk


def test_fbk_tables_the_months_draws_the_nps_and_logs_a_changed_month(tmp_path):
    first = _write(tmp_path, feedback_dip=-10.0)
    fbk = first[2].read_text(encoding="utf-8")
    assert "2026-06-01" in fbk and "-10.000" in fbk
    assert "_FBK_feedback_v1_nps.png" in fbk
    reg = first[0].read_text(encoding="utf-8").split("## Funnel")[1]
    # the latest month only, each channel with the step that loses most
    assert "online_mall" in reg and "authorised_phone" in reg and "first_order" not in reg

    second = _write(tmp_path, feedback_dip=-5.0)[2].read_text(encoding="utf-8")
    log = second.split("## Change log")[1]
    assert "- v2: nps:2026-06-01 -10.000 -> -5.000" in log and "2026-05-01" not in log

"""next_best_actions (dbt) on hand-made marts: every gate recomputed here from the fixture frames,
never from the SQL (consent, unsubscribe, frequency cap, community cap, one action a day), and
the matrix's rules firing for the persons written for them."""

from __future__ import annotations

import csv
import datetime as dt
import os
import subprocess
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.activation.nba_fixture import ACTION_DATE, write_fixture_db

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DBT_PROJECT = REPO / "dbt_project"
DBT = REPO / ".venv" / "bin" / "dbt"
MAX_TOUCHES_7D = 3
MAX_COMMUNITY_SHARE = 0.4


def run_dbt(db: Path, target: Path) -> None:
    env = {
        **os.environ,
        "DBT_TARGET_PATH": str(target),
        "SIYU_WAREHOUSE_PATH": str(db),
        "SIYU_DBT_THREADS": "4",
    }
    # the mart, its rule models (models/intermediate/activation/), the data bounds they plan from
    # and the seeds they read, over the fixture's hand-made marts (kpi_daily among them: the
    # over-touch alarms the frequency caps read)
    cmd = [
        str(DBT),
        "build",
        "--profiles-dir",
        ".",
        "--select",
        "int_data_bounds",
        "intermediate.activation",
        "marts.activation",
        "interaction_response_matrix",
        "personas",
        "frequency_cap_rules",
        "send_windows",
    ]
    proc = subprocess.run(cmd, cwd=DBT_PROJECT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nba")
    db = tmp / "warehouse.duckdb"
    fixture = write_fixture_db(db)
    run_dbt(db, tmp / "target")
    con = duckdb.connect(str(db), read_only=True)
    try:
        nba = con.execute("select * from marts.next_best_actions").df()
    finally:
        con.close()
    nba["action_date"] = pd.to_datetime(nba["action_date"]).dt.date
    return {"nba": nba, "users": pd.DataFrame(fixture.users), "inter": pd.DataFrame(fixture.inter)}


def by_person(built) -> dict[str, dict]:
    return {r["person_id"]: r for r in built["nba"].to_dict("records")}


def test_plans_the_day_after_the_last_data(built):
    assert len(built["nba"]) > 20
    assert set(built["nba"]["action_date"]) == {ACTION_DATE}


def test_one_action_per_person_per_day(built):
    assert not built["nba"].duplicated(["person_id", "action_date"]).any()


def test_never_without_consent_or_after_unsubscribe(built):
    users = built["users"]
    blocked = set(
        users.loc[
            ~users["consent_marketing"].astype(bool) | users["unsubscribed_at"].notna(), "person_id"
        ]
    )
    assert blocked, "the fixture has persons without consent"
    assert not blocked & set(built["nba"]["person_id"])
    actions = by_person(built)
    assert "p_no_consent" not in actions and "p_unsubscribed" not in actions


def test_frequency_cap(built):
    inter = built["inter"]
    window = inter[
        (inter["direction"] == "outbound")
        & (inter["occurred_date"] >= ACTION_DATE - dt.timedelta(days=7))
        & (inter["occurred_date"] < ACTION_DATE)
    ]
    touches = window.groupby("person_id").size()
    capped = set(touches[touches >= MAX_TOUCHES_7D].index)
    assert "p_capped" in capped
    assert not capped & set(built["nba"]["person_id"])
    # one below the cap still gets the action, and the row says how many touches it had
    row = by_person(built)["p_two_touches"]
    assert row["rule_id"] == "R01_birthday_30plus_frequent" and row["touches_7d"] == 2
    for r in built["nba"].to_dict("records"):
        assert r["touches_7d"] == touches.get(r["person_id"], 0) < MAX_TOUCHES_7D


def test_no_third_consecutive_touch_day(built):
    assert "p_streak" not in by_person(built)


def test_community_share_at_most_40_percent(built):
    nba = built["nba"]
    share = (nba["channel"] == "wecom_group").sum() / len(nba)
    assert 0 < share <= MAX_COMMUNITY_SHARE
    # the cap moved the surplus group touches to their fallback and says so
    moved = nba[nba["reason"].str.contains("community cap")]
    assert len(moved) > 0 and set(moved["channel"]) == {"wecom_1v1"}


def test_seed_example_birthday_coupon(built):
    actions = by_person(built)
    example = actions["p_example"]
    assert example["rule_id"] == "R01_birthday_30plus_frequent"
    assert (example["scenario"], example["content_type"]) == ("birthday", "coupon")
    assert "age 35" in example["reason"] and "12 orders" in example["reason"]
    # age exactly 30 or exactly 10 orders is not "over": the default birthday rule fires
    assert actions["p_age_30"]["rule_id"] == "R03_birthday_default"
    assert actions["p_ten_orders"]["rule_id"] == "R03_birthday_default"
    assert actions.get("p_refunds", {}).get("rule_id") != "R01_birthday_30plus_frequent"


def test_channel_fallback_and_unreachable(built):
    actions = by_person(built)
    assert actions["p_sms_only"]["channel"] == "sms"
    assert "fallback sms" in actions["p_sms_only"]["reason"]
    assert "p_unreachable" not in actions


def test_journey_nodes_and_recall_chain(built):
    actions = by_person(built)
    assert actions["p_welcome"]["rule_id"] == "R20_welcome_3d"
    assert actions["p_post_purchase"]["rule_id"] == "R21_post_purchase_7d"
    assert actions["p_dormant"]["rule_id"] == "R30_recall_step_1"
    assert actions["p_recall_2"]["rule_id"] == "R32_recall_step_2"
    assert actions["p_recall_2_high"]["rule_id"] == "R31_recall_step_2_high_risk"
    assert "p_recall_answered" not in actions
    assert actions["p_vip"]["rule_id"] == "R40_new_product_high_value_segment"
    assert actions.get("p_vip_previewed", {}).get("scenario") != "new_product_preview"


def test_every_row_names_its_rule_and_reason(built):
    nba = built["nba"]
    with open(DBT_PROJECT / "seeds" / "interaction_response_matrix.csv", encoding="utf-8") as fh:
        rules = {r["rule_id"]: r for r in csv.DictReader(fh)}
    assert nba["rule_id"].notna().all() and nba["reason"].str.len().gt(0).all()
    for r in nba.to_dict("records"):
        rule = rules[r["rule_id"]]
        assert (r["scenario"], r["action"], r["content_type"]) == (
            rule["scenario"],
            rule["action"],
            rule["content_type"],
        )
        assert r["channel"] in (rule["channel"], rule["fallback_channel"])


def test_default_cap_and_send_windows_without_an_alarm(built):
    """No over-touch alarm in the fixture's kpi_daily: every action is under the default cap and
    says so; no fixture person has 5 active hours, so every window is its content's default."""
    nba = built["nba"]
    assert (nba["touch_cap_7d"] == MAX_TOUCHES_7D).all() and nba["cap_rule_id"].isna().all()
    assert nba["cap_reason"].str.contains("the default: no cap rule in force").all()
    assert nba["reason"].str.contains(f"\\(cap {MAX_TOUCHES_7D}\\)").all()
    with open(DBT_PROJECT / "seeds" / "send_windows.csv", encoding="utf-8") as fh:
        windows = {r["content_type"]: r for r in csv.DictReader(fh)}
    assert (nba["send_window_source"] == "default").all()
    for r in nba.to_dict("records"):
        window = windows[r["content_type"]]
        assert (r["send_window_start_hour"], r["send_window_end_hour"]) == (
            int(window["default_start_hour"]),
            int(window["default_end_hour"]),
        )
    # both of the plan's kinds are planned: product knowledge 10-11 h, promotions 20-21 h
    assert {(10, 11), (20, 21)} <= set(
        zip(nba["send_window_start_hour"], nba["send_window_end_hour"], strict=True)
    )

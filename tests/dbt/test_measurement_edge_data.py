"""The measurement marts on data a real brand can have: no interaction source at all, only outbound
SMS, no orders, no experiment, and money whose float sums depend on the row order.

Each case is the hand-made fixture of tests/dbt/measurement_fixture.py with a source removed (or a
small fixture of its own), built by real dbt runs into its own DuckDB file.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pandas as pd
import pytest

from tests.dbt.measurement_fixture import build_frames, write_marts_db
from tests.dbt.test_measurement_marts import MARTS, SEEDS, read_marts, run_dbt

pytestmark = pytest.mark.slow

DAY = dt.timedelta(days=1)
INTERACTION_KPIS = {
    # KPI -> what it is measured from
    "interaction_rate": "inbound_interactions",
    "community_share": "outbound_touches",
    "touches_per_user_week": "outbound_touches",
    "over_touch_3d_share": "outbound_touches",
    "over_touch_7d_share": "outbound_touches",
    "sla_2h_breach_rate": "inbound_chats",
}
ORDER_KPIS = {"repurchase_rate_30d": "orders", "high_value_share": "orders"}


def build_case(tmp_path_factory, name, users, orders, inter, select=None):
    tmp = tmp_path_factory.mktemp(name)
    db = tmp / "warehouse.duckdb"
    write_marts_db(db, users, orders, inter)
    run_dbt(db, tmp / "target", select or ["marts.measurement", *SEEDS])
    return db


def column_types(db, table: str) -> dict[str, str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'marts' and table_name = ?",
                [table],
            ).fetchall()
        )
    finally:
        con.close()


def all_days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + n * DAY for n in range((last - first).days + 1)]


def assert_not_measured(kpi: pd.DataFrame, expected: dict[str, str], days: list[dt.date]) -> None:
    for name, source in expected.items():
        rows = kpi[kpi.kpi == name]
        assert sorted(rows.date) == days, name  # one row a day, not a missing KPI
        assert (rows.status == "not_measured").all(), (name, rows.status.unique())
        assert rows.value.isna().all() and rows.trailing_28d.isna().all(), name
        assert not rows.is_anomaly.any(), name
        assert (rows.measured_from == source).all(), name


def assert_measured(kpi: pd.DataFrame, names) -> None:
    for name in names:
        rows = kpi[kpi.kpi == name]
        assert len(rows) and rows.value.notna().all(), name
        assert rows.status.isin(["green", "amber", "red"]).all(), name


# ---------------------------------------------------------------- no interaction source


@pytest.fixture(scope="module")
def no_interactions(tmp_path_factory):
    users, orders, inter = build_frames()
    db = build_case(tmp_path_factory, "no_interactions", users, orders, inter.iloc[0:0])
    return orders, read_marts(db, MARTS)


def test_engagement_daily_without_any_interaction(no_interactions):
    orders, marts = no_interactions
    eng = marts["engagement_daily"].sort_values("date")
    assert eng.date.tolist() == all_days(orders.ordered_date.min(), orders.ordered_date.max())
    assert (eng.total_users > 0).all()
    for count in ["interacting_users", "touches", "touched_users", "touches_7d", "inbound_chats"]:
        assert (eng[count] == 0).all(), count
    # the definition: 0 of total_users interacted; nothing to divide by for touches and chats
    assert (eng.interaction_rate == 0).all()
    assert (eng.over_touch_3d_share == 0).all() and (eng.over_touch_7d_share == 0).all()
    for ratio in ["touches_per_user_week", "community_share", "sms_share", "sla_2h_breach_rate"]:
        assert eng[ratio].isna().all(), ratio


def test_kpis_of_interactions_are_not_measured_without_interactions(no_interactions):
    orders, marts = no_interactions
    kpi = marts["kpi_daily"]
    days = all_days(orders.ordered_date.min(), orders.ordered_date.max())
    assert_not_measured(kpi, INTERACTION_KPIS, days)
    assert not ((kpi.status == "red") & kpi.kpi.isin(INTERACTION_KPIS)).any()
    # active = an order or an inbound interaction: orders alone still measure these
    assert_measured(kpi, [*ORDER_KPIS, "next_day_retention", "churn_rate"])


def test_every_measurement_mart_builds_without_interactions(no_interactions):
    _, marts = no_interactions
    assert marts["experiment_results"].empty  # no experiment without sends
    assert len(marts["user_rfm"]) and len(marts["retention_cohorts"]) and len(marts["user_ltv"])
    ir = marts["interaction_retention"]
    assert set(ir.interaction_frequency_bucket) == {"0"} and set(ir.scenario) == {"all"}


# ---------------------------------------------------------------- outbound SMS only


@pytest.fixture(scope="module")
def sms_only(tmp_path_factory):
    users, orders, inter = build_frames()
    sms = inter[(inter.channel == "sms") & (inter.direction == "outbound")].copy()
    sms["experiment_id"] = None  # and no experiment at all
    sms["variant"] = None
    db = build_case(tmp_path_factory, "sms_only", users, orders, sms)
    return orders, sms, read_marts(db, MARTS)


def test_kpis_without_inbound_interactions(sms_only):
    orders, sms, marts = sms_only
    kpi = marts["kpi_daily"]
    first = min(orders.ordered_date.min(), sms.occurred_date.min())
    last = max(orders.ordered_date.max(), sms.occurred_date.max())
    days = all_days(first, last)
    inbound = {k: v for k, v in INTERACTION_KPIS.items() if v != "outbound_touches"}
    assert_not_measured(kpi, inbound, days)
    outbound = [k for k, v in INTERACTION_KPIS.items() if v == "outbound_touches"]
    assert_measured(kpi, outbound)
    # every touch is an SMS: no community touches, which is a measured 0 (green), not "no data"
    share = kpi[kpi.kpi == "community_share"]
    assert (share.value == 0).all() and (share.status == "green").all()


def test_engagement_daily_with_outbound_sms_only(sms_only):
    _, sms, marts = sms_only
    eng = marts["engagement_daily"].set_index("date")
    assert (eng.interacting_users == 0).all() and (eng.interaction_rate == 0).all()
    assert eng.sla_2h_breach_rate.isna().all()
    touch_days = sorted(set(sms.occurred_date))
    assert (eng.loc[touch_days, "sms_share"] == 1).all()
    assert eng.touches.sum() == len(sms)


def test_no_experiment_gives_an_empty_experiment_results(sms_only):
    _, _, marts = sms_only
    assert marts["experiment_results"].empty
    assert len(marts["kpi_daily"]) and len(marts["user_ltv"])


# ---------------------------------------------------------------- no orders


def test_kpis_of_orders_are_not_measured_without_orders(tmp_path_factory):
    users, orders, inter = build_frames()
    db = build_case(tmp_path_factory, "no_orders", users, orders.iloc[0:0], inter)
    marts = read_marts(db, MARTS)
    days = all_days(inter.occurred_date.min(), inter.occurred_date.max())
    assert_not_measured(marts["kpi_daily"], ORDER_KPIS, days)
    assert_measured(
        marts["kpi_daily"], ["interaction_rate", "community_share", "next_day_retention"]
    )
    assert marts["user_rfm"].empty
    assert (marts["user_ltv"].ltv_formula == 0).all()
    assert len(marts["experiment_results"]) == 2  # sends exist, nobody converted
    assert (marts["experiment_results"].conversions == 0).all()


# ---------------------------------------------------------------- money and deterministic ranks


def cents_frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Ten buyers who all paid exactly 0.60 on the same day: the even ones in three orders of
    0.10, 0.20 and 0.30, the odd ones in one. As doubles 0.1 + 0.2 + 0.3 = 0.6000000000000001 but
    0.3 + 0.2 + 0.1 = 0.6, so a double sum depends on the row order; the cents are a tie that
    person_id must split."""
    users, orders, inter = build_frames()
    start = users.first_seen_at.min().normalize()
    persons = [f"c{i}" for i in range(10)]
    users = users.iloc[0:10].copy()
    users["person_id"] = persons
    users["first_seen_at"] = start
    users["first_seen_date"] = start.date()
    rows = []
    for i, pid in enumerate(persons):
        amounts = [0.10, 0.20, 0.30] if i % 2 == 0 else [0.60]
        for k, amount in enumerate(amounts):
            at = start + pd.Timedelta(days=1, hours=10 + k)
            rows.append(
                {
                    "order_id": f"{pid}-{k}",
                    "person_id": pid,
                    "channel": "store",
                    "ordered_at": at,
                    "amount": amount,
                    "discount_amount": 0.0,
                    "coupon_used": False,
                    "is_refunded": False,
                    "ordered_date": at.date(),
                }
            )
    return users, pd.DataFrame(rows), inter.iloc[0:0]


@pytest.fixture(scope="module")
def cents_runs(tmp_path_factory):
    users, orders, inter = cents_frames()
    select = ["user_rfm", "user_ltv", "rfm_tiers", "rfm_segments", "ltv_coefficients"]
    dbs = [
        build_case(tmp_path_factory, "cents_forward", users, orders, inter, select),
        build_case(tmp_path_factory, "cents_reversed", users, orders.iloc[::-1], inter, select),
    ]
    return dbs, [read_marts(db, ["user_rfm", "user_ltv"]) for db in dbs]


def test_rfm_scores_do_not_depend_on_the_row_order(cents_runs):
    _, (forward, reversed_) = cents_runs
    keys = ["person_id", "as_of_date"]
    scores = ["r_score", "f_score", "m_score", "r3_score", "m3_score", "rfm_tier", "rfm_segment"]
    a = forward["user_rfm"].sort_values(keys).reset_index(drop=True)
    b = reversed_["user_rfm"].sort_values(keys).reset_index(drop=True)
    assert len(a) == 10  # the one day with data: ten buyers
    pd.testing.assert_frame_equal(a[keys + scores], b[keys + scores])
    # the exact tie is split by person_id, as documented: c0, c1 -> 1, ..., c8, c9 -> 5
    assert a.sort_values("person_id").m_score.tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def fetch(db, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_monetary_values_are_exact_cents(cents_runs):
    db = cents_runs[0][0]
    assert column_types(db, "user_rfm")["monetary"] == "DECIMAL(18,2)"
    assert fetch(db, "select distinct monetary from marts.user_rfm") == [(Decimal("0.60"),)]
    ltv_types = column_types(db, "user_ltv")
    for money in ["monetary_cny", "aov_cny", "ltv_formula"]:
        assert ltv_types[money] == "DECIMAL(18,2)", money
    ltv = {
        p: (m, a)
        for p, m, a in fetch(db, "select person_id, monetary_cny, aov_cny from marts.user_ltv")
    }
    assert {m for m, _ in ltv.values()} == {Decimal("0.60")}
    # aov: 0.60 over three orders is 0.20, over one 0.60
    assert ltv["c0"][1] == Decimal("0.20") and ltv["c1"][1] == Decimal("0.60")

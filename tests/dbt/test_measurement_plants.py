"""The planted behaviours of issue 14 recovered by the real marts (content_performance,
campaign_roi, registration_funnel, feedback_satisfaction).

One module-scoped build: the generator writes 2,000 persons x 125 days (datagen/plants_measurement
plants message clicks by content type, the mini-program's visit statistics and a monthly
satisfaction survey with a dip month), the real loader puts every extract into raw.*, and one
`dbt build` makes the four marts and everything they read. Each test reads the marts and compares
them with the truth the generator wrote, or with a hand computation in pandas.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_HALF_UP, Decimal
from types import SimpleNamespace

import duckdb
import numpy as np
import pandas as pd
import pytest

from data_quality.runner import validate_duckdb
from datagen.generate import generate
from ingestion.entities import ENTITIES
from ingestion.loader import load_days
from reporting.members import funnel_lines, satisfaction_lines
from tests.dbt.test_measurement_marts import DBT_PROJECT, run_dbt

pytestmark = pytest.mark.slow

START = dt.date(2026, 5, 1)
PERSONS, DAYS, SEED = 2000, 125, 14  # 125 days: May's 3 following months lie inside the data
MARTS = ["content_performance", "campaign_roi", "registration_funnel", "feedback_satisfaction"]


@pytest.fixture(scope="module")
def plants(tmp_path_factory) -> SimpleNamespace:
    tmp = tmp_path_factory.mktemp("plants")
    landing, db = tmp / "landing", tmp / "warehouse.duckdb"
    generate(PERSONS, DAYS, START, SEED, landing, progress=False)
    days = [START + dt.timedelta(days=i) for i in range(DAYS)]
    con = duckdb.connect(str(db))
    try:
        for entity in ENTITIES:
            result = load_days(con, entity, days, landing, tmp / "quarantine", suppressed={})
            assert result.ok, (entity.table, result.errors)
    finally:
        con.close()
    # cautious: the tests of marts downstream of the shared models are not part of this build
    run_dbt(
        db,
        tmp / "target",
        [f"+{mart}" for mart in MARTS],
        extra_args=("--indirect-selection", "cautious"),
    )
    truth = json.loads((landing / "_truth" / "measurement_plants.json").read_text())
    return SimpleNamespace(db=db, landing=landing, truth=truth)


def frame(plants, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(plants.db), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def data_end(plants) -> pd.Timestamp:
    """Exclusive end of the loaded data (int_data_bounds.data_end_date)."""
    (end,) = frame(
        plants,
        "select max(d) + 1 as d from (select max(ordered_date) as d from marts.fct_orders "
        "union all select max(occurred_date) from marts.fct_interactions)",
    )["d"]
    return pd.Timestamp(end)


# ---------------------------------------------------------------- content_performance


def test_the_planted_content_type_ranks_first_at_its_planted_click_rate(plants):
    planted = plants.truth["content_clicks"]
    perf = frame(plants, "select * from marts.content_performance where scenario = 'all'")
    ranked = perf.sort_values("response_rank").reset_index(drop=True)
    assert ranked.loc[0, "content_type"] == planted["planted_content_type"] == "live"
    assert ranked.loc[0, "response_rank"] == 1
    assert ranked.loc[0, "response_rate"] > ranked.loc[1, "response_rate"] + 0.08, ranked

    # A touch can be clicked when its person is alive that day and already a mini-program user:
    # the expected click rate is the planted probability times that share of the measured
    # touches, which the truth (who churned when) and identity_map (since when the openid)
    # decide. Every content type's rate is held to its own planted probability.
    identities = plants.landing / "_truth" / "identities.parquet"
    persons = plants.landing / "_truth" / "persons.parquet"
    end = data_end(plants).date().isoformat()
    eligible = frame(
        plants,
        f"""
        with touches as (
            select person_id, content_type, occurred_at, occurred_date
            from marts.fct_interactions
            where direction = 'outbound' and campaign_id is not null
              and occurred_at + interval 48 hour <= timestamp '{end}'
        ),
        truth_persons as (
            select m.person_id, min(t.true_person_id) as true_person_id
            from intermediate.identity_map as m
            inner join read_parquet('{identities}') as t
                on t.id_type = m.id_type and t.id_value = m.id_value
            where t.true_person_id is not null and m.person_id is not null
            group by m.person_id
        ),
        openids as (
            select person_id, min(first_seen_at) as since
            from intermediate.identity_map where id_type = 'openid' group by person_id
        )
        select
            touches.content_type,
            count(*) as measured,
            avg(case when cast(openids.since as date) <= touches.occurred_date
                and (p.churned_after is null or p.churned_after >= touches.occurred_date)
                then 1 else 0 end) as clickable_share
        from touches
        left join openids on openids.person_id = touches.person_id
        left join truth_persons on truth_persons.person_id = touches.person_id
        left join read_parquet('{persons}') as p on p.true_person_id = truth_persons.true_person_id
        group by touches.content_type
        """,
    ).set_index("content_type")
    got = perf.set_index("content_type")
    assert (got["measured_touches"] == eligible["measured"].reindex(got.index)).all()
    for content, probability in planted["click_probability"].items():
        expected = probability * eligible.loc[content, "clickable_share"]
        assert abs(got.loc[content, "click_rate"] - expected) < 0.03, (content, expected, got)
    live = got.loc["live"]
    assert live["click_rate"] > 0.1 and live["response_rate"] >= live["click_rate"]


def test_content_long_term_repurchase_matches_a_hand_computation(plants):
    """The 3-month repurchase of touched vs comparable buyers, for one content type, in pandas."""
    inter = frame(
        plants,
        "select person_id, content_type, occurred_date from marts.fct_interactions "
        "where direction = 'outbound' and campaign_id is not null and person_id is not null",
    )
    orders = frame(
        plants,
        "select person_id, ordered_date from marts.fct_orders where not coalesce(is_refunded, false)",
    )
    inter["month"] = pd.to_datetime(inter["occurred_date"]).dt.to_period("M")
    orders["day"] = pd.to_datetime(orders["ordered_date"])
    end = data_end(plants)
    closed = [m for m in inter["month"].unique() if (m + 4).start_time <= end]
    assert closed, "May's three following months lie inside the data"
    first_order = orders.groupby("person_id")["day"].min()
    rows = []
    for month in closed:
        touched = inter[inter["month"] == month]
        buyers = [
            p
            for p in touched["person_id"].unique()
            if first_order.get(p, end) < (month + 1).start_time
        ]
        window = orders[
            (orders["day"] >= (month + 1).start_time) & (orders["day"] < (month + 4).start_time)
        ]
        repurchased = set(window["person_id"])
        live = set(touched.loc[touched["content_type"] == "live", "person_id"])
        rows += [(p in live, p in repurchased) for p in buyers]
    pairs = pd.DataFrame(rows, columns=["live", "repurchased"])
    expected_touched = pairs[pairs["live"]]
    expected_untouched = pairs[~pairs["live"]]
    got = frame(
        plants,
        "select * from marts.content_performance where content_type = 'live' and scenario = 'all'",
    ).iloc[0]
    assert got["touched_buyer_months"] == len(expected_touched) > 0
    assert got["untouched_buyer_months"] == len(expected_untouched) > 0
    p1, p0 = expected_touched["repurchased"].mean(), expected_untouched["repurchased"].mean()
    assert got["touched_repurchase_rate_3m"] == pytest.approx(p1)
    assert got["untouched_repurchase_rate_3m"] == pytest.approx(p0)
    se = np.sqrt(p1 * (1 - p1) / len(expected_touched) + p0 * (1 - p0) / len(expected_untouched))
    assert got["diff_ci_low"] == pytest.approx(p1 - p0 - 1.959964 * se, abs=1e-6)
    assert got["diff_ci_high"] == pytest.approx(p1 - p0 + 1.959964 * se, abs=1e-6)


# ---------------------------------------------------------------- campaign_roi


def _cents(value) -> Decimal:
    """To the cent, halves away from zero as SQL's round does."""
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_campaign_roi_equals_a_hand_computation(plants):
    inter = frame(
        plants,
        "select interaction_id, person_id, campaign_id, channel, direction, content_type, "
        "occurred_at, occurred_date from marts.fct_interactions where person_id is not null",
    )
    orders = frame(
        plants,
        "select order_id, person_id, ordered_at, ordered_date, amount, discount_amount, "
        "coupon_used, is_refunded from marts.fct_orders",
    )
    costs = pd.read_csv(DBT_PROJECT / "seeds" / "campaign_costs.csv")
    sends = inter[(inter["direction"] == "outbound") & inter["campaign_id"].notna()].copy()
    sends["occurred_date"] = pd.to_datetime(sends["occurred_date"])

    # attribution: every non-refunded order to the person's latest campaign touch in 7 days
    paid = orders[~orders["is_refunded"].fillna(False).astype(bool)]
    pairs = paid.merge(sends, on="person_id")
    pairs = pairs[
        (pairs["occurred_at"] < pairs["ordered_at"])
        & (pairs["occurred_at"] >= pairs["ordered_at"] - pd.Timedelta(days=7))
    ]
    last = (
        pairs.sort_values(["order_id", "occurred_at", "interaction_id"]).groupby("order_id").tail(1)
    )
    last = last.assign(
        coupon=last["coupon_used"].fillna(False).astype(bool) & (last["content_type"] == "coupon"),
        amount=last["amount"].map(Decimal),
        discount=last["discount_amount"].map(Decimal),
    )

    # activity: any order (refunded too) or an inbound interaction, per person and day
    activity = pd.concat(
        [
            orders[["person_id", "ordered_date"]].set_axis(["person_id", "day"], axis=1),
            inter.loc[inter["direction"] == "inbound", ["person_id", "occurred_date"]].set_axis(
                ["person_id", "day"], axis=1
            ),
        ]
    ).drop_duplicates()
    activity["day"] = pd.to_datetime(activity["day"])

    def retained(groups: pd.DataFrame) -> int:
        first = groups.groupby("person_id")["occurred_date"].min().rename("first").reset_index()
        joined = first.merge(activity, on="person_id")
        kept = joined[
            (joined["day"] > joined["first"])
            & (joined["day"] <= joined["first"] + pd.Timedelta(days=30))
        ]
        return kept["person_id"].nunique()

    def price(channel: str, campaign: str) -> pd.Series:
        own = costs[(costs["channel"] == channel) & (costs["campaign_id"] == campaign)]
        return (
            own
            if len(own)
            else costs[(costs["channel"] == channel) & (costs["campaign_id"] == "__default__")]
        ).iloc[0]

    expected = {}
    for (campaign, channel), group in sends.groupby(["campaign_id", "channel"]):
        row = price(channel, campaign)
        mine = last[(last["campaign_id"] == campaign) & (last["channel"] == channel)]
        messages, mass = len(group), group["occurred_date"].nunique()
        expected[(campaign, channel)] = {
            "messages": messages,
            "mass_sends": mass,
            "persons_touched": group["person_id"].nunique(),
            "retained_users": retained(group),
            "interaction_cost_cny": _cents(
                messages * row["cost_per_message_cny"] + mass * row["cost_per_mass_send_cny"]
            ),
            "coupon_cost_cny": _cents(
                float(mine.loc[mine["coupon"], "discount"].sum()) * row["coupon_cost_share"]
            ),
            "fixed_cost_cny": _cents(row["fixed_cost_cny"]),
            "attributed_orders": len(mine),
            "redeemed_coupons": int(mine["coupon"].sum()),
            "attributed_revenue_cny": _cents(sum(mine["amount"], Decimal(0))),
        }
    for channel, group in sends.groupby("channel"):
        parts = [v for (c, ch), v in expected.items() if ch == channel]
        total = {k: sum(p[k] for p in parts) for k in parts[0]}
        total["persons_touched"] = group["person_id"].nunique()
        total["retained_users"] = retained(group)
        expected[("all", channel)] = total

    got = frame(plants, "select * from marts.campaign_roi").set_index(["campaign_id", "channel"])
    assert set(got.index) == set(expected)
    assert ("cmp_exp_03", "sms") in expected  # the seed's override applies to a real campaign
    assert _cents(got.loc[("cmp_exp_03", "sms"), "fixed_cost_cny"]) == Decimal("300.00")
    for key, want in expected.items():
        row = got.loc[key]
        cost = want["interaction_cost_cny"] + want["coupon_cost_cny"] + want["fixed_cost_cny"]
        # DECIMAL(18,2) reaches pandas as a float: compare it as cents
        for column, value in want.items():
            seen = _cents(row[column]) if column.endswith("_cny") else row[column]
            assert seen == value, (key, column, row[column], value)
        assert _cents(row["cost_cny"]) == cost, key
        if want["retained_users"]:
            per_user = _cents(cost / want["retained_users"])
            assert _cents(row["cost_per_retained_user_cny"]) == per_user, key
        if cost:
            roi = float(want["attributed_revenue_cny"] - cost) / float(cost)
            assert row["roi"] == pytest.approx(roi, rel=1e-9), key
    # the campaigns do earn something: some orders and coupons are attributed
    assert got["attributed_orders"].sum() > 0 and got["coupon_cost_cny"].sum() > 0


# ---------------------------------------------------------------- registration_funnel


def test_the_funnel_names_the_planted_channels_phone_step(plants):
    planted = plants.truth["registration_funnel"]
    funnel = frame(plants, "select * from marts.registration_funnel")
    funnel["visit_month"] = pd.to_datetime(funnel["visit_month"])
    # months whose visitors had a month and 30 days to order by the end of the data
    mature = funnel[
        funnel["visit_month"] + pd.DateOffset(months=1) + pd.Timedelta(days=30) <= data_end(plants)
    ]
    mine = mature[mature["channel"] == planted["planted_channel"]]
    assert len(mine) >= 3
    assert set(mine["largest_drop_step"]) == {planted["planted_step"]} == {"authorised_phone"}
    others = mature[mature["channel"] != planted["planted_channel"]]
    assert len(others) >= 9 and planted["planted_step"] not in set(others["largest_drop_step"])
    # near the planted rate: the users' own authorisation rate diluted by 1 + k anonymous visits
    k = planted["anonymous_visits_per_user"][planted["planted_channel"]]
    expected = mine["authorised_phone_users"] / (mine["miniprogram_users"] * (1 + k))
    assert (mine["phone_rate"] - expected).abs().max() < 0.06, mine
    # every step is a subset of the one before; visits come from the visit statistics
    assert (funnel["visits"] >= funnel["miniprogram_users"]).all()
    assert (funnel["miniprogram_users"] >= funnel["authorised_phone_users"]).all()
    assert (funnel["authorised_phone_users"] >= funnel["members"]).all()
    assert (funnel["members"] >= funnel["first_order_users"]).all()
    (reported,) = frame(
        plants, "select sum(new_visitors) as n from staging.stg_miniprogram__visit_stats"
    )["n"]
    assert funnel["reported_visitors"].sum() == reported


# ---------------------------------------------------------------- feedback_satisfaction


def test_satisfaction_recovers_the_planted_dip_month(plants):
    planted = plants.truth["feedback_survey"]
    satisfaction = frame(plants, "select * from marts.feedback_satisfaction")
    satisfaction["feedback_month"] = pd.to_datetime(satisfaction["feedback_month"])

    # hand computation from the staged feedback: 5 promoter, 4 passive, 1-3 detractor
    feedback = frame(plants, "select rating, submitted_at from staging.stg_crm__feedback")
    feedback["feedback_month"] = (
        pd.to_datetime(feedback["submitted_at"]).dt.to_period("M").dt.start_time
    )
    for month, group in feedback.groupby("feedback_month"):
        row = satisfaction.set_index("feedback_month").loc[month]
        counts = group["rating"].value_counts()
        assert [row[f"score_{s}_count"] for s in range(1, 6)] == [
            counts.get(s, 0) for s in range(1, 6)
        ]
        nps = 100 * (counts.get(5, 0) - counts.reindex([1, 2, 3]).fillna(0).sum()) / len(group)
        assert row["nps"] == pytest.approx(nps)
        assert row["avg_score"] == pytest.approx(group["rating"].mean())

    big = satisfaction[satisfaction["scored_count"] >= 30].set_index("feedback_month")
    dip = pd.Timestamp(planted["dip_month"])
    assert len(big) >= 3 and dip in big.index
    assert big["nps"].idxmin() == dip and big["avg_score"].idxmin() == dip
    others = big.drop(index=dip)
    assert big.loc[dip, "nps"] < others["nps"].min() - 15, big[["scored_count", "nps"]]
    assert big.loc[dip, "nps_change"] < -15


def test_the_daily_report_sections_name_the_plants(plants):
    """What the report says over the whole history: the planted channel loses most at the phone,
    the others elsewhere; the lowest NPS is the dip month's."""
    funnel = frame(plants, "select * from marts.registration_funnel")
    rows = {
        cells[0]: cells[-1]
        for line in "\n".join(funnel_lines(funnel)).splitlines()
        if line.startswith("| ") and not line.startswith("| channel")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    planted = plants.truth["registration_funnel"]["planted_channel"]
    assert rows.pop(planted) == "authorised_phone"
    assert rows and "authorised_phone" not in rows.values()
    satisfaction = frame(plants, "select * from marts.feedback_satisfaction")
    dip = pd.Timestamp(plants.truth["feedback_survey"]["dip_month"])
    assert f"Lowest NPS: {dip:%Y-%m} (" in "\n".join(satisfaction_lines(satisfaction))


# ---------------------------------------------------------------- suites


@pytest.mark.parametrize("table", MARTS)
def test_the_marts_pass_their_suites(plants, table):
    con = duckdb.connect(str(plants.db), read_only=True)
    try:
        result = validate_duckdb(con, table, as_of=(data_end(plants) - pd.Timedelta(days=1)).date())
    finally:
        con.close()
    assert result.success, result.summary()
    rows = frame(plants, f"select count(*) as n from marts.{table}")["n"].iloc[0]
    assert rows > 0

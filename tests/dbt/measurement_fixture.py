"""Hand-made marts (dim_users, fct_orders, fct_interactions) for the measurement mart tests.

A seeded random background of ~40 persons over 70 days, plus hand-written persons for the edge
cases the measurement issue names: a cohort too young for D30, a user with two orders on one day,
a refunded order, a user with no interactions, ties at NTILE boundaries, over-touch streaks, SLA
replies inside / outside 2 hours and a chat whose 2-hour window has not closed, and a gap of
days (GAP) with no order and no interaction at all.

The tables are created with the published column types (money as the DOUBLE an older build of
fct_orders has: the measurement marts must give exact cents whatever the input's type), so an
empty fact table keeps its types; `write_marts_db` writes any frames in that layout.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

START = dt.date(2026, 3, 2)  # a Monday; first day with data
N_DAYS = 70
END = START + dt.timedelta(days=N_DAYS - 1)  # last day with data
CHANNELS_FIRST = ["store", "online_mall", "miniprogram", "wecom"]
ORDER_CHANNELS = ["store", "online_mall", "miniprogram"]
TOUCH_CHANNELS = ["wecom_1v1", "wecom_group", "sms"]
SCENARIOS = ["birthday", "member_day", "new_arrival"]
# days with no activity at all (nothing hand-written falls on them; the background is dropped)
GAP = frozenset(range(55, 58))


def day(n: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(START + dt.timedelta(days=n), dt.time(hour, minute))


def build_frames(seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    users, orders, inter = [], [], []

    def user(pid, first_day, channel, hour=9):
        users.append(
            {"person_id": pid, "first_seen_at": day(first_day, hour), "first_channel": channel}
        )

    def order(pid, at, amount, refunded=False, channel="store"):
        orders.append(
            {
                "order_id": f"o{len(orders):04d}",
                "person_id": pid,
                "channel": channel,
                "ordered_at": at,
                "amount": float(amount),
                "discount_amount": 0.0,
                "coupon_used": False,
                "is_refunded": refunded,
            }
        )

    def touch(
        pid,
        at,
        channel="wecom_1v1",
        scenario="birthday",
        direction="outbound",
        experiment_id=None,
        variant=None,
    ):
        inter.append(
            {
                "interaction_id": f"i{len(inter):05d}",
                "person_id": pid,
                "occurred_at": at,
                "channel": channel,
                "direction": direction,
                "scenario": scenario,
                "content_type": "text",
                "campaign_id": None,
                "experiment_id": experiment_id,
                "variant": variant,
            }
        )

    # random background
    for i in range(40):
        pid = f"p{i:02d}"
        first = int(rng.integers(0, 60))
        user(pid, first, CHANNELS_FIRST[int(rng.integers(0, 4))])
        n_orders = int(rng.poisson(2.0))
        for _ in range(n_orders):
            d = first + int(rng.integers(0, N_DAYS - first))
            order(
                pid,
                day(d, int(rng.integers(8, 22))),
                int(rng.choice([50, 100, 150, 200])),
                refunded=bool(rng.random() < 0.15),
                channel=ORDER_CHANNELS[int(rng.integers(0, 3))],
            )
        for _ in range(int(rng.poisson(8))):
            d = first + int(rng.integers(0, N_DAYS - first))
            touch(
                pid,
                day(d, int(rng.integers(8, 21)), int(rng.integers(0, 60))),
                channel=TOUCH_CHANNELS[int(rng.integers(0, 3))],
                scenario=SCENARIOS[int(rng.integers(0, 3))],
            )
        for _ in range(int(rng.poisson(4))):
            d = first + int(rng.integers(0, N_DAYS - first))
            kind = int(rng.integers(0, 2))
            touch(
                pid,
                day(d, int(rng.integers(8, 21))),
                channel=["miniprogram", "wecom_1v1"][kind],
                scenario=["page_view", "chat"][kind],
                direction="inbound",
            )

    # pre-history person: first seen before the data starts (no cohort, but a user)
    user("q_old", -90, "store")
    order("q_old", day(5, 12), 300)
    # two orders on one day, nothing later: frequency 1, orders 2, not a repurchaser
    user("q_twice", 2, "store")
    order("q_twice", day(2, 11), 80)
    order("q_twice", day(2, 18), 120)
    # refunded only: active, not a buyer
    user("q_refund", 3, "online_mall")
    order("q_refund", day(3, 12), 500, refunded=True)
    # refunded first order, kept order later: first purchase is the later one
    user("q_refund2", 4, "miniprogram")
    order("q_refund2", day(4, 12), 90, refunded=True)
    order("q_refund2", day(10, 12), 90)
    order("q_refund2", day(25, 12), 60)
    # no interactions at all, one order
    user("q_silent", 1, "store")
    order("q_silent", day(31, 12), 100)
    # cohort too young for D30 (first seen 10 days before the end)
    user("q_young", N_DAYS - 10, "miniprogram")
    touch(
        "q_young",
        day(N_DAYS - 9, 9),
        direction="inbound",
        channel="miniprogram",
        scenario="page_view",
    )
    # touched 7 consecutive days (and 3 consecutive days) ending on day 20, 5 touches a week+
    user("q_spam", 0, "wecom")
    for d in range(14, 21):
        touch("q_spam", day(d, 10), channel="wecom_group", scenario="member_day")
    for d in range(0, 28, 2):
        touch("q_spam", day(d, 15), channel="sms", scenario="new_arrival")
    # SLA cases on day 40 for q_chat
    user("q_chat", 0, "wecom")
    touch("q_chat", day(40, 9), direction="inbound", scenario="chat")  # answered in 1h
    touch("q_chat", day(40, 10), scenario="service_reply")
    touch("q_chat", day(40, 12), direction="inbound", scenario="chat")  # answered after 3h
    touch("q_chat", day(40, 15), scenario="service_reply")
    touch("q_chat", day(41, 20), direction="inbound", scenario="chat")  # campaign, not staff
    touch("q_chat", day(41, 21), scenario="birthday")
    touch(
        "q_chat", day(42, 22, 30), direction="inbound", scenario="chat"
    )  # answered at 2:00 exactly
    touch("q_chat", day(43, 0, 30), scenario="service_reply")
    # chat on the last day whose window has not closed at the watermark (day 69 23:00)
    touch("q_chat", day(N_DAYS - 1, 22, 0), direction="inbound", scenario="chat")
    touch("q_chat", day(N_DAYS - 1, 23, 0), channel="sms", scenario="birthday")  # the watermark

    # one experiment: control / treatment, with a switcher (first variant wins), a refunded
    # conversion (not counted) and an order before the send (not counted)
    for i in range(40):
        pid = f"p{i:02d}"
        if i % 3 == 0:
            continue
        variant = "treatment" if i % 2 else "control"
        touch(
            pid,
            day(45, 9, i),
            channel="sms",
            scenario="member_day",
            experiment_id="exp_member_day",
            variant=variant,
        )
    touch(
        "q_twice",
        day(45, 9),
        channel="sms",
        scenario="member_day",
        experiment_id="exp_member_day",
        variant="treatment",
    )
    touch(
        "q_twice",
        day(46, 9),
        channel="sms",
        scenario="member_day",
        experiment_id="exp_member_day",
        variant="control",
    )
    order("q_twice", day(47, 9), 70)  # converts within 7 days
    touch(
        "q_refund",
        day(45, 9),
        channel="sms",
        scenario="member_day",
        experiment_id="exp_member_day",
        variant="control",
    )
    order("q_refund", day(46, 9), 70, refunded=True)  # refunded: no conversion
    order("q_refund", day(44, 9), 70)  # before the send: no conversion
    touch(
        "q_chat",
        day(45, 8),
        channel="sms",
        scenario="member_day",
        experiment_id="exp_member_day",
        variant="control",
    )
    order("q_chat", day(52, 9), 70)  # 7 days + 1 hour later: outside the window

    gap_dates = {START + dt.timedelta(days=n) for n in GAP}
    orders = [o for o in orders if o["ordered_at"].date() not in gap_dates]
    inter = [i for i in inter if i["occurred_at"].date() not in gap_dates]
    dim_users = pd.DataFrame(users)
    dim_users["first_seen_date"] = dim_users["first_seen_at"].dt.date
    for col, val in [
        ("registered_at", pd.NaT),
        ("member_tier", None),
        ("city", None),
        ("consent_marketing", True),
        ("unsubscribed_at", pd.NaT),
        ("has_crm", True),
        ("has_wecom", True),
        ("has_miniprogram", True),
        ("n_identifiers", 1),
    ]:
        dim_users[col] = val
    fct_orders = pd.DataFrame(orders)
    fct_orders["ordered_date"] = fct_orders["ordered_at"].dt.date
    fct_interactions = pd.DataFrame(inter)
    fct_interactions["occurred_date"] = fct_interactions["occurred_at"].dt.date
    return dim_users, fct_orders, fct_interactions


TABLES = {
    "dim_users": {
        "person_id": "varchar",
        "first_seen_at": "timestamp",
        "first_channel": "varchar",
        "first_seen_date": "date",
        "registered_at": "timestamp",
        "member_tier": "varchar",
        "city": "varchar",
        "consent_marketing": "boolean",
        "unsubscribed_at": "timestamp",
        "has_crm": "boolean",
        "has_wecom": "boolean",
        "has_miniprogram": "boolean",
        "n_identifiers": "bigint",
    },
    "fct_orders": {
        "order_id": "varchar",
        "person_id": "varchar",
        "channel": "varchar",
        "ordered_at": "timestamp",
        "amount": "double",
        "discount_amount": "double",
        "coupon_used": "boolean",
        "is_refunded": "boolean",
        "ordered_date": "date",
    },
    "fct_interactions": {
        "interaction_id": "varchar",
        "person_id": "varchar",
        "occurred_at": "timestamp",
        "channel": "varchar",
        "direction": "varchar",
        "scenario": "varchar",
        "content_type": "varchar",
        "campaign_id": "varchar",
        "experiment_id": "varchar",
        "variant": "varchar",
        "occurred_date": "date",
    },
}


def write_marts_db(
    path: Path, dim_users: pd.DataFrame, fct_orders: pd.DataFrame, fct_interactions: pd.DataFrame
) -> None:
    """The three core marts (rows in the frames' order), ml.user_clv and ml.user_segments, in a new
    DuckDB file."""
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists marts")
        for name, frame in [
            ("dim_users", dim_users),
            ("fct_orders", fct_orders),
            ("fct_interactions", fct_interactions),
        ]:
            columns = TABLES[name]
            ddl = ", ".join(f"{c} {t}" for c, t in columns.items())
            con.execute(f"create or replace table marts.{name} ({ddl})")
            if len(frame):
                con.register("frame", frame)
                con.execute(f"insert into marts.{name} select {', '.join(columns)} from frame")
                con.unregister("frame")
        # user_ltv joins the probabilistic CLV the Python model asset writes; one buyer's row is
        # enough to check the join (the CLV math itself is tested in tests/ml/test_clv.py)
        con.execute("create schema if not exists ml")
        con.execute(
            "create or replace table ml.user_clv as select person_id, 0.5 as p_alive, "
            "2.0 as expected_orders_365d, 100.0 as expected_order_value, 180.0 as clv_365d, "
            "timestamp '2026-01-01' as clv_as_of from marts.fct_orders where not is_refunded "
            "order by person_id limit 1"
        )
        # engagement_by_layer counts persons by their current segment: four of every five persons
        # get one of the seed personas in turn, the fifth none (unscored)
        con.execute(
            "create or replace table ml.user_segments as select person_id, segment, "
            "'v1' as model_version, timestamp '2026-01-01' as scored_at from ("
            "select person_id, (['high_value_paying', 'content_sharing', 'price_sensitive', "
            "'dormant', null])[1 + (row_number() over (order by person_id) - 1) % 5] as segment "
            "from marts.dim_users) as assigned where segment is not null"
        )
    finally:
        con.close()


def write_fixture_db(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    dim_users, fct_orders, fct_interactions = build_frames()
    write_marts_db(path, dim_users, fct_orders, fct_interactions)
    return dim_users, fct_orders, fct_interactions

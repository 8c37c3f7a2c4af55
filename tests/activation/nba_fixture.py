"""Hand-made marts for the next-best-action tests: a seeded random background plus hand-written
persons for each rule and gate the issue names (consent, unsubscribe, frequency cap, community
cap, the seed's birthday-coupon example, the recall chain)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

LAST_DAY = dt.date(2026, 6, 15)  # last day with data (a Monday)
ACTION_DATE = LAST_DAY + dt.timedelta(days=1)  # a Tuesday: the weekly UGC topic day
FIRST_DAY = dt.date(2026, 3, 1)
SEGMENTS = ["high_value_paying", "content_sharing", "price_sensitive", "dormant"]
CHANNELS = ["wecom_1v1", "wecom_group", "sms", "miniprogram"]


def days_before(n: int, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(ACTION_DATE - dt.timedelta(days=n), dt.time(hour))


class Builder:
    def __init__(self) -> None:
        self.users: list[dict] = []
        self.orders: list[dict] = []
        self.inter: list[dict] = []
        self.rfm: list[dict] = []
        self.segments: list[dict] = []
        self.churn: list[dict] = []
        self.ids: list[dict] = []

    def person(
        self,
        pid,
        *,
        birth=None,
        consent=True,
        unsubscribed_at=None,
        wecom=True,
        miniprogram=True,
        phone=True,
        crm=True,
        first_seen_days=200,
        registered_days=None,
        segment=None,
        rfm_tier=None,
        risk_decile=None,
    ):
        self.users.append(
            {
                "person_id": pid,
                "birth_year": birth.year if birth else None,
                "birth_month": birth.month if birth else None,
                "birth_day": birth.day if birth else None,
                "has_crm": crm,
                "has_wecom": wecom,
                "has_miniprogram": miniprogram,
                "consent_marketing": consent and unsubscribed_at is None,
                "is_contactable": consent and unsubscribed_at is None,
                "unsubscribed_at": unsubscribed_at,
                "first_seen_at": days_before(first_seen_days, 9),
                "registered_at": days_before(
                    registered_days if registered_days is not None else first_seen_days, 9
                ),
            }
        )
        if phone:
            self.ids.append(
                {"id_type": "phone", "id_value": f"139{len(self.ids):08d}", "person_id": pid}
            )
        if segment:
            self.segments.append(
                {
                    "person_id": pid,
                    "segment": segment,
                    "model_version": "v1",
                    "scored_at": dt.datetime.combine(ACTION_DATE, dt.time()),
                }
            )
        if risk_decile:
            self.churn.append(
                {
                    "person_id": pid,
                    "churn_probability": risk_decile / 10,
                    "risk_decile": risk_decile,
                    "model_version": "v1",
                    "scored_at": dt.datetime.combine(ACTION_DATE, dt.time()),
                }
            )
        if rfm_tier:
            self.rfm.append({"person_id": pid, "as_of_date": LAST_DAY, "rfm_tier": rfm_tier})

    def order(self, pid, days_ago, refunded=False):
        self.orders.append(
            {
                "order_id": f"o{len(self.orders):05d}",
                "person_id": pid,
                "ordered_at": days_before(days_ago, 12),
                "ordered_date": ACTION_DATE - dt.timedelta(days=days_ago),
                "amount": 100.0,
                "is_refunded": refunded,
            }
        )

    def touch(self, pid, days_ago, channel="wecom_1v1", scenario="promotion", direction="outbound"):
        self.inter.append(
            {
                "interaction_id": f"i{len(self.inter):06d}",
                "person_id": pid,
                "occurred_at": days_before(days_ago, 15),
                "occurred_date": ACTION_DATE - dt.timedelta(days=days_ago),
                "channel": channel,
                "direction": direction,
                "scenario": scenario,
                "content_type": "article",
            }
        )


def birthday_on_action_date(age: int) -> dt.date:
    return ACTION_DATE.replace(year=ACTION_DATE.year - age)


def build(seed: int = 11) -> Builder:
    b = Builder()
    rng = np.random.default_rng(seed)
    # random background: 80 persons with random attributes, orders and touches
    for i in range(80):
        pid = f"bg{i:03d}"
        birth = dt.date(
            int(rng.integers(1960, 2005)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
        )
        b.person(
            pid,
            birth=birth if rng.random() < 0.8 else None,
            consent=bool(rng.random() < 0.8),
            unsubscribed_at=days_before(int(rng.integers(1, 60))) if rng.random() < 0.1 else None,
            wecom=bool(rng.random() < 0.7),
            miniprogram=bool(rng.random() < 0.5),
            phone=bool(rng.random() < 0.8),
            first_seen_days=int(rng.integers(1, 100)),
            segment=SEGMENTS[int(rng.integers(0, 4))],
            risk_decile=int(rng.integers(1, 11)),
            rfm_tier=["high_value", "potential", "churned", "other"][int(rng.integers(0, 4))],
        )
        for _ in range(int(rng.integers(0, 6))):
            b.order(pid, int(rng.integers(1, 90)), refunded=bool(rng.random() < 0.1))
        for _ in range(int(rng.integers(0, 8))):
            b.touch(pid, int(rng.integers(1, 20)), channel=CHANNELS[int(rng.integers(0, 4))])

    # the seed's example: age > 30, > 10 purchases in the month, birthday -> coupon (R01)
    def frequent_birthday(pid, age=35, orders=12, **kw):
        b.person(pid, birth=birthday_on_action_date(age), **kw)
        for k in range(orders):
            b.order(pid, 1 + k * 2)

    frequent_birthday("p_example")
    frequent_birthday("p_no_consent", consent=False)
    frequent_birthday("p_unsubscribed", unsubscribed_at=days_before(20))
    frequent_birthday("p_capped")
    for d in (1, 3, 5):  # 3 touches in the trailing 7 days: the cap
        b.touch("p_capped", d)
    frequent_birthday("p_two_touches")
    for d in (2, 6, 9):  # 2 in the window, one just outside
        b.touch("p_two_touches", d)
    frequent_birthday("p_streak")
    for d in (1, 2):  # touched on each of the last 2 days: a third consecutive day is over-touch
        b.touch("p_streak", d)
    frequent_birthday("p_age_30", age=30)  # not > 30: the default birthday rule
    frequent_birthday("p_ten_orders", orders=10)  # not > 10 purchases: default rule
    frequent_birthday("p_refunds", orders=0)
    for k in range(12):
        b.order("p_refunds", 1 + k, refunded=True)  # refunded orders are not purchases
    frequent_birthday("p_sms_only", wecom=False)  # falls back to SMS
    frequent_birthday("p_unreachable", wecom=False, phone=False, miniprogram=False)

    # journey nodes
    b.person("p_welcome", first_seen_days=3, registered_days=3)
    b.person("p_post_purchase", first_seen_days=40)
    b.order("p_post_purchase", 7)
    # recall chain: dormant 60 days, no recall yet -> step 1; one recall 4 days ago -> step 2
    b.person("p_dormant", first_seen_days=120)
    b.order("p_dormant", 60)
    b.person("p_recall_2", first_seen_days=120, risk_decile=3)
    b.order("p_recall_2", 60)
    b.touch("p_recall_2", 4, scenario="recall_step_1")
    b.person("p_recall_2_high", first_seen_days=120, risk_decile=9)
    b.order("p_recall_2_high", 60)
    b.touch("p_recall_2_high", 5, scenario="recall")
    b.person("p_recall_answered", first_seen_days=120)  # answered step 1: the chain stops
    b.order("p_recall_answered", 60)
    b.touch("p_recall_answered", 5, scenario="recall_step_1")
    b.touch("p_recall_answered", 3, channel="wecom_1v1", scenario="chat", direction="inbound")
    # new-product preview for high-value payers, once a month
    b.person("p_vip", segment="high_value_paying")
    b.order("p_vip", 2)
    b.person("p_vip_previewed", segment="high_value_paying")
    b.order("p_vip_previewed", 2)
    b.touch("p_vip_previewed", 20, scenario="new_product")
    # community: many content sharers on the UGC topic day (group), few other touches
    for i in range(30):
        pid = f"p_sharer{i:02d}"
        b.person(pid, segment="content_sharing", wecom=True)
        b.order(pid, 3)
    return b


def write_fixture_db(path: Path) -> Builder:
    b = build()
    frames = {
        ("marts", "dim_users"): pd.DataFrame(b.users),
        ("marts", "fct_orders"): pd.DataFrame(b.orders),
        ("marts", "fct_interactions"): pd.DataFrame(b.inter),
        ("marts", "user_rfm"): pd.DataFrame(b.rfm),
        ("marts", "user_segments"): pd.DataFrame(b.segments),
        ("marts", "user_churn_scores"): pd.DataFrame(b.churn),
        ("intermediate", "identity_map"): pd.DataFrame(b.ids),
        # the over-touch alarms of the last day, within their limits: the default frequency cap
        ("marts", "kpi_daily"): pd.DataFrame(
            [
                {"date": LAST_DAY, "kpi": kpi, "value": value, "target": 0.05, "status": "green"}
                for kpi, value in (("over_touch_3d_share", 0.02), ("over_touch_7d_share", 0.0))
            ]
        ),
    }
    con = duckdb.connect(str(path))
    try:
        for (schema, table), frame in frames.items():
            con.execute(f"create schema if not exists {schema}")
            con.register("_f", frame)
            con.execute(f"create or replace table {schema}.{table} as select * from _f")
            con.unregister("_f")
        # column types the real marts have
        con.execute("alter table marts.dim_users alter unsubscribed_at type timestamp")
        for col in ("birth_year", "birth_month", "birth_day"):
            con.execute(f"alter table marts.dim_users alter {col} type integer")
        # the full birthday is internal (intermediate.int_users__birthdays); dim_users keeps the month
        con.execute("create schema if not exists intermediate")
        con.execute(
            "create or replace table intermediate.int_users__birthdays as select person_id, "
            "birth_month, birth_day, birth_year from marts.dim_users where birth_month is not null"
        )
        con.execute("alter table marts.dim_users drop column birth_day")
        con.execute("alter table marts.dim_users drop column birth_year")
    finally:
        con.close()
    return b

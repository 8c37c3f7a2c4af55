"""Hole 5 (issue 15), at ingestion: enum columns have an explicit list of known values.

A value outside the list (a new order status, a new registration channel) is a quarantined row with
rule `unknown_value` naming the column and the value, instead of passing as valid and being mapped
to "completed" or "other" downstream. Cancelled and pending orders are known values (they load);
staging keeps them out of revenue (tests/faults/test_order_status_marts.py).
"""

from __future__ import annotations

import pytest

from ingestion.entities import ENTITIES
from tests.faults.landing import (
    DAY,
    MEMBERS_HEADER,
    ORDERS_HEADER,
    D,
    Tree,
    epoch_ms,
    epoch_s,
    jsonl,
)

pytestmark = pytest.mark.fault("unknown values")


@pytest.fixture
def tree(tmp_path) -> Tree:
    return Tree(tmp_path)


def test_crm_order_status_known_values_load_and_unknown_ones_are_quarantined(tree):
    statuses = ["已完成", "已退款", "已取消", "待付款", "cancelled", "已发货"]
    rows = [f"C{i},M1,{D} 09:{i:02d}:00,10.00,0,否,{s},店" for i, s in enumerate(statuses, 1)]
    tree.write(f"crm/{D}/orders.csv", "\n".join([ORDERS_HEADER, *rows]) + "\n")
    result = tree.load("crm", "orders")
    assert result.ok
    assert [r["order_status"] for r in tree.raw("crm__orders")] == statuses[:4]
    q = tree.quarantined()
    assert [(r["row_number"], r["rule"]) for r in q] == [(5, "unknown_value"), (6, "unknown_value")]
    assert q[0]["message"].startswith(f"crm/{D}/orders.csv row 5: 订单状态 ")
    assert "'cancelled'" in q[0]["message"] and "(rule: unknown_value)" in q[0]["message"]
    assert "'已发货'" in q[1]["message"]


def test_miniprogram_order_status_unknown_value_is_quarantined(tree):
    orders = [
        {
            "order_id": f"W{i}",
            "openid": "oA",
            "created_at": epoch_ms(DAY),
            "total_fee": 100,
            "discount_fee": 0,
            "coupon_id": None,
            "status": s,
        }
        for i, s in enumerate(["paid", "refunded", "cancelled", "pending", "shipped"], 1)
    ]
    tree.write(f"miniprogram/{D}/orders.jsonl", jsonl(orders))
    result = tree.load("miniprogram", "orders")
    assert result.ok and result.rows_loaded == 4
    (q,) = tree.quarantined()
    assert (q["row_number"], q["rule"]) == (5, "unknown_value")
    assert "status" in q["message"] and "'shipped'" in q["message"]


def test_a_new_registration_channel_is_quarantined_not_other(tree):
    rows = [
        f"M1,张伟,13800138001,{D} 09:00:00,门店,普通会员,,上海,是,,",
        f"M2,李娜,13800138002,{D} 09:00:00,直播间,普通会员,,上海,是,,",
        f"M3,王芳,13800138003,{D} 09:00:00,,普通会员,,上海,是,,",
    ]  # empty: unknown, allowed
    tree.write(f"crm/{D}/members.csv", "\n".join([MEMBERS_HEADER, *rows]) + "\n")
    result = tree.load("crm", "members")
    assert result.ok and result.rows_loaded == 2
    (q,) = tree.quarantined()
    assert (
        q["rule"] == "unknown_value" and "注册渠道" in q["message"] and "'直播间'" in q["message"]
    )


def test_a_new_wecom_chat_type_and_send_status_are_quarantined(tree):
    base = {
        "campaign_id": "cmp_1",
        "sender": "s1",
        "sent_at": epoch_s(DAY),
        "scenario": "birthday",
        "content_type": "coupon",
        "experiment_id": None,
        "variant": None,
    }
    sends = [
        {**base, "external_userid": "wm1", "chat_type": "single", "status": "sent"},
        {**base, "external_userid": "wm2", "chat_type": "moments", "status": "sent"},
        {**base, "external_userid": "wm3", "chat_type": "group", "status": "queued"},
    ]
    tree.write(f"wecom/{D}/campaign_sends.jsonl", jsonl(sends))
    result = tree.load("wecom", "campaign_sends")
    assert result.ok and result.rows_loaded == 1
    assert [(r["row_number"], r["rule"]) for r in tree.quarantined()] == [
        (2, "unknown_value"),
        (3, "unknown_value"),
    ]


def test_every_enum_column_names_its_known_values():
    enums = {(e.table, c.name): c.values for e in ENTITIES for c in e.columns if c.rule == "enum"}
    assert enums[("crm__orders", "order_status")] == ("已完成", "已退款", "已取消", "待付款")
    assert enums[("miniprogram__orders", "order_status")] == (
        "paid",
        "refunded",
        "cancelled",
        "pending",
    )
    assert enums[("crm__members", "registration_channel")] == (
        "门店",
        "线上商城",
        "小程序",
        "企业微信",
    )
    assert all(enums.values())

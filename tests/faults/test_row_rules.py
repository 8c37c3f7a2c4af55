"""Hole 6 (issue 15): impossible rows are quarantined at ingestion, not found later by a check that
blocks the whole day.

* `future_timestamp`: a timestamp more than 1 day after the end of the partition day it landed in
  (business day, Asia/Shanghai): an order of 2099 landed on 2026-08-01. A row stamped up to
  2026-08-02 23:59:59 still loads (exports that run after midnight, clocks a little ahead).
* `negative_amount`: a negative order amount or discount (CRM yuan, mini-program fen). Points may be
  negative (a burn), they are not money.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.faults.landing import DAY, ORDERS_HEADER, D, Tree, epoch_ms, jsonl

pytestmark = pytest.mark.fault("row rules")


@pytest.fixture
def tree(tmp_path) -> Tree:
    return Tree(tmp_path)


def _rules(tree: Tree) -> list[tuple[int, str]]:
    return [(q["row_number"], q["rule"]) for q in tree.quarantined()]


def test_crm_orders_in_the_future_or_negative_are_quarantined(tree):
    rows = [
        f"C1,M1,{D} 09:30:00,199.00,20.00,是,已完成,店",
        "C2,M1,2099-01-01 00:00:00,199.00,0,否,已完成,店",
        "C3,M1,2026-08-02 23:59:59,10.00,0,否,已完成,店",  # within the day of slack
        "C4,M1,2026-08-03 00:00:00,10.00,0,否,已完成,店",
        f"C5,M1,{D} 10:00:00,-5.00,0,否,已完成,店",
        f"C6,M1,{D} 10:00:00,5.00,-1.00,否,已完成,店",
        "C7,M1,2026-07-01 10:00:00,5.00,0,否,已完成,店",  # late rows from the past are fine
    ]
    tree.write(f"crm/{D}/orders.csv", "\n".join([ORDERS_HEADER, *rows]) + "\n")
    result = tree.load("crm", "orders")
    assert result.ok
    assert [r["order_id"] for r in tree.raw("crm__orders")] == ["C1", "C3", "C7"]
    assert _rules(tree) == [
        (2, "future_timestamp"),
        (4, "future_timestamp"),
        (5, "negative_amount"),
        (6, "negative_amount"),
    ]
    messages = [q["message"] for q in tree.quarantined()]
    assert messages[0].startswith(f"crm/{D}/orders.csv row 2: 下单时间 ")
    assert "2099-01-01 00:00:00" in messages[0] and D in messages[0]
    assert "订单金额" in messages[2] and "'-5.00'" in messages[2]


def test_the_partition_day_is_the_folder_the_row_landed_in(tree):
    """A range load checks each row against its own folder's day."""
    row = "C1,M1,2026-08-03 09:00:00,1.00,0,否,已完成,店"
    tree.write(f"crm/{D}/orders.csv", ORDERS_HEADER + "\n" + row + "\n")
    tree.write("crm/2026-08-02/orders.csv", ORDERS_HEADER + "\n" + row.replace("C1", "C2") + "\n")
    result = tree.load("crm", "orders", days=(DAY, DAY + dt.timedelta(days=1)))
    assert result.ok
    assert [r["order_id"] for r in tree.raw("crm__orders")] == ["C2"]
    assert [q["source_file"] for q in tree.quarantined()] == [f"crm/{D}/orders.csv"]


def test_miniprogram_orders_and_events_in_the_future_or_negative_are_quarantined(tree):
    def order(i, **kw):
        return {
            "order_id": f"W{i}",
            "openid": "oA",
            "created_at": epoch_ms(DAY),
            "total_fee": 100,
            "discount_fee": 0,
            "coupon_id": None,
            "status": "paid",
            **kw,
        }

    tree.write(
        f"miniprogram/{D}/orders.jsonl",
        jsonl(
            [
                order(1),
                order(2, created_at=4_070_908_800_000),  # 2099-01-01
                order(3, total_fee=-100),
                order(4, discount_fee=-1),
            ]
        ),
    )
    assert tree.load("miniprogram", "orders").rows_loaded == 1
    assert _rules(tree) == [(2, "future_timestamp"), (3, "negative_amount"), (4, "negative_amount")]

    events = [
        {
            "event_id": "e1",
            "openid": "oA",
            "event_name": "page_view",
            "event_time": epoch_ms(DAY),
            "properties": {},
        },
        {
            "event_id": "e2",
            "openid": "oA",
            "event_name": "page_view",
            "event_time": epoch_ms(DAY + dt.timedelta(days=2)),
            "properties": {},
        },
    ]
    tree.write(f"miniprogram/{D}/events.jsonl", jsonl(events))
    assert tree.load("miniprogram", "events").rows_loaded == 1
    assert [q["rule"] for q in tree.quarantined() if q["entity"] == "events"] == [
        "future_timestamp"
    ]


def test_negative_points_still_load(tree):
    tree.write(
        f"crm/{D}/points.csv",
        f"流水号,会员编号,变动时间,变动积分,变动原因\nP1,M1,{D} 09:00:00,-200,兑换\n",
    )
    result = tree.load("crm", "points")
    assert result.ok and result.rows_loaded == 1 and tree.quarantined() == []


@pytest.mark.parametrize("amount", ["inf", "-inf", "1e400", "1e30"])
def test_an_amount_no_decimal_column_can_hold_is_a_rejected_row(tree, amount):
    """`inf` or `1e30` pass as numbers in Python but fail the cast in dbt, blocking the whole day."""
    rows = [
        f"C1,M1,{D} 09:30:00,1.00,0,否,已完成,店",
        f"C2,M1,{D} 09:30:00,{amount},0,否,已完成,店",
    ]
    tree.write(f"crm/{D}/orders.csv", "\n".join([ORDERS_HEADER, *rows]) + "\n")
    assert tree.load("crm", "orders").rows_loaded == 1
    assert _rules(tree) == [(2, "decimal")]


def test_a_fee_too_large_for_the_money_column_is_a_rejected_row(tree):
    orders = [
        {
            "order_id": "W1",
            "openid": "oA",
            "created_at": epoch_ms(DAY),
            "total_fee": 1e30,
            "status": "paid",
        }
    ]
    tree.write(f"miniprogram/{D}/orders.jsonl", jsonl(orders))
    assert tree.load("miniprogram", "orders").rows_loaded == 0
    assert _rules(tree) == [(1, "int")]

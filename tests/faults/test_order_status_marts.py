"""Hole 5 (issue 15), in the marts: a cancelled or pending order never counts as revenue.

Ingestion loads the known statuses (CRM 已完成 / 已退款 / 已取消 / 待付款, mini-program paid /
refunded / cancelled / pending). Staging decides on the latest delivery of each order:

* completed / paid: an order, revenue; refunded: an order with `is_refunded`;
* cancelled / pending, never delivered as paid: not an order, dropped at staging (it never reaches
  fct_orders, so no consumer of fct_orders has to know the status);
* cancelled / pending after it was delivered as paid or refunded: kept with `is_refunded` true, so
  the incremental fct_orders replaces the earlier paid row instead of keeping it as revenue;
* pending, then paid on a later day: an order from the day it is paid.

fct_orders keeps the contract's columns (is_refunded is the flag every revenue figure already
excludes); staging carries the normalised `order_status` (completed, refunded, cancelled, pending).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pytest

from ingestion.entities import ENTITIES
from ingestion.loader import load_days
from tests.dbt.test_measurement_marts import run_dbt
from tests.faults.landing import MEMBERS_HEADER, ORDERS_HEADER, Tree, epoch_ms, jsonl

pytestmark = [pytest.mark.fault("unknown values"), pytest.mark.slow]

DAY1 = dt.date(2026, 8, 1)
DAY2 = dt.date(2026, 8, 2)


def _crm(day: dt.date, rows: list[tuple[str, str, str]]) -> str:
    return (
        "\n".join(
            [ORDERS_HEADER]
            + [
                f"{oid},M1,{DAY1} 09:00:00,{amount},0,否,{status},上海旗舰店"
                for oid, amount, status in rows
            ]
        )
        + "\n"
    )


def _mp(rows: list[tuple[str, int, str]]) -> str:
    return jsonl(
        [
            {
                "order_id": oid,
                "openid": "oA",
                "created_at": epoch_ms(DAY1),
                "total_fee": fee,
                "discount_fee": 0,
                "coupon_id": None,
                "status": status,
            }
            for oid, fee, status in rows
        ]
    )


def _load(tree: Tree, day: dt.date) -> None:
    for e in ENTITIES:
        result = load_days(tree.con, e, [day], tree.landing, tree.quarantine, suppressed={})
        assert result.ok and result.rows_quarantined == 0 and not result.warnings, (
            e.table,
            result.errors,
            result.warnings,
        )


def _dbt(tree: Tree, day: dt.date) -> None:
    window = f'{{"min_date": "{day}", "max_date": "{day + dt.timedelta(days=1)}"}}'
    tree.con.close()  # dbt is the one writer of the build database while it runs
    try:
        run_dbt(
            tree.tmp / "warehouse.duckdb", tree.tmp / "target", ["+dim_users", "+fct_orders"],
            window, extra_args=("--indirect-selection", "cautious"),
        )  # fmt: skip
    finally:
        tree.con = duckdb.connect(str(tree.tmp / "warehouse.duckdb"))


def _orders(tree: Tree) -> dict[str, tuple]:
    """fct_orders by order id: (amount, is_refunded, the staging order_status)."""
    rows = tree.con.execute(
        """
        select orders.order_id, orders.amount, orders.is_refunded, statuses.order_status
        from marts.fct_orders as orders
        left join (
            select 'crm:' || order_id as order_id, order_status from staging.stg_crm__orders
            union all
            select 'mp:' || order_id, order_status from staging.stg_miniprogram__orders
        ) as statuses on statuses.order_id = orders.order_id
        """
    ).fetchall()
    return {oid: (amount, refunded, status) for oid, amount, refunded, status in rows}


def _revenue(tree: Tree) -> Decimal:
    return tree.con.execute(
        "select sum(amount) from marts.fct_orders where not coalesce(is_refunded, false)"
    ).fetchone()[0]


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Tree:
    t = Tree(tmp_path_factory.mktemp("order_status"))
    t.write(
        f"crm/{DAY1}/members.csv",
        MEMBERS_HEADER + f"\nM1,张伟,13800138001,{DAY1} 08:00:00,门店,普通会员,,上海,是,,\n",
    )
    t.write(
        f"miniprogram/{DAY1}/users.jsonl",
        jsonl(
            [
                {
                    "openid": "oA",
                    "unionid": None,
                    "phone_number": None,
                    "nickname": "伟",
                    "registered_at": epoch_ms(DAY1, 8),
                    "scene": 1047,
                    "consent_marketing": True,
                    "unsubscribed_at": None,
                    "updated_at": epoch_ms(DAY1, 8),
                }
            ]
        ),
    )
    t.write(
        f"crm/{DAY1}/orders.csv",
        _crm(
            DAY1,
            [
                ("C1", "100.00", "已完成"),
                ("C2", "200.00", "已取消"),
                ("C3", "300.00", "待付款"),
                ("C4", "400.00", "已退款"),
                ("C5", "500.00", "已完成"),
            ],
        ),
    )
    t.write(
        f"miniprogram/{DAY1}/orders.jsonl",
        _mp(
            [
                ("W1", 1000, "paid"),
                ("W2", 2000, "cancelled"),
                ("W3", 3000, "pending"),
                ("W4", 4000, "refunded"),
            ]
        ),
    )
    return t


def test_day_one_cancelled_and_pending_orders_are_not_orders(tree):
    _load(tree, DAY1)
    _dbt(tree, DAY1)
    assert _orders(tree) == {
        "crm:C1": (Decimal("100.00"), False, "completed"),
        "crm:C4": (Decimal("400.00"), True, "refunded"),
        "crm:C5": (Decimal("500.00"), False, "completed"),
        "mp:W1": (Decimal("10.00"), False, "completed"),
        "mp:W4": (Decimal("40.00"), True, "refunded"),
    }
    assert _revenue(tree) == Decimal("610.00")


def test_day_two_a_paid_pending_order_counts_and_a_cancelled_paid_order_stops_counting(tree):
    tree.write(
        f"crm/{DAY2}/orders.csv",
        _crm(DAY2, [("C3", "300.00", "已完成"), ("C5", "500.00", "已取消")]),
    )
    tree.write(
        f"miniprogram/{DAY2}/orders.jsonl", _mp([("W3", 3000, "paid"), ("W1", 1000, "cancelled")])
    )
    _load(tree, DAY2)
    _dbt(tree, DAY2)  # incremental: only day 2's deliveries are merged
    orders = _orders(tree)
    assert orders["crm:C3"] == (Decimal("300.00"), False, "completed")
    assert orders["crm:C5"] == (Decimal("500.00"), True, "cancelled")
    assert orders["mp:W3"] == (Decimal("30.00"), False, "completed")
    assert orders["mp:W1"] == (Decimal("10.00"), True, "cancelled")
    assert "crm:C2" not in orders and "mp:W2" not in orders
    assert _revenue(tree) == Decimal("430.00")

"""The core marts built by dbt from raw extracts (tests/dbt/core_fixture.py): the first channel
tie-break of dim_users and money to the cent in fct_orders."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest

from tests.dbt.core_fixture import (
    EXPECTED_FIRST_CHANNEL,
    EXPECTED_ORDERS,
    load_core_raw,
    write_core_landing,
)
from tests.dbt.test_measurement_marts import run_dbt


@pytest.fixture(scope="module")
def core_db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("core")
    db = tmp / "warehouse.duckdb"
    load_core_raw(db, write_core_landing(tmp / "landing"), tmp / "quarantine")
    # cautious: the tests of the marts downstream that read dim_users are not part of this build
    run_dbt(
        db,
        tmp / "target",
        ["+dim_users", "+fct_orders"],
        extra_args=("--indirect-selection", "cautious"),
    )
    return db


def query(db, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_registration_beats_an_activity_at_the_same_instant(core_db):
    rows = query(
        core_db,
        "select m.id_type, m.id_value, u.first_channel, u.first_seen_at "
        "from intermediate.identity_map as m "
        "inner join marts.dim_users as u on u.person_id = m.person_id",
    )
    got = {(t, v): ch for t, v, ch, _ in rows if (t, v) in EXPECTED_FIRST_CHANNEL}
    assert got == EXPECTED_FIRST_CHANNEL
    # the fixture really has the ties: the person's first_seen_at is the shared instant
    seen = {(t, v): at for t, v, _, at in rows}
    assert seen[("member_id", "M10")].strftime("%H:%M:%S") == "10:00:00"
    assert seen[("member_id", "M13")].strftime("%H:%M:%S") == "13:00:00"


def test_order_money_is_decimal_to_the_cent(core_db):
    types = dict(
        query(
            core_db,
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'marts' and table_name = 'fct_orders'",
        )
    )
    assert types["amount"] == "DECIMAL(18,2)"
    assert types["discount_amount"] == "DECIMAL(18,2)"
    rows = query(core_db, "select order_id, amount, discount_amount from marts.fct_orders")
    assert {o: (a, d) for o, a, d in rows} == EXPECTED_ORDERS
    # cents add up exactly: 0.10 + 0.20 = 0.30, the 0.30 of W17
    total = query(
        core_db,
        "select sum(amount) from marts.fct_orders where order_id in ('crm:C11', 'crm:C12')",
    )[0][0]
    assert total == Decimal("0.30") == EXPECTED_ORDERS["mp:W17"][0]

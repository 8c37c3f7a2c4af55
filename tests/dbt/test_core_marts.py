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

pytestmark = pytest.mark.slow


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


# identity_map's first sighting of each identifier follows the same tie rule as dim_users: at the
# same instant a registration's channel beats an activity's label (M10 and M11 pay in the second
# they register); an activity strictly first keeps its label (M12, M13, o17, wm15)
EXPECTED_IDENTIFIER_FIRST_CHANNEL = {
    ("member_id", "M10"): "store",
    ("member_id", "M11"): "online_mall",
    ("member_id", "M12"): "crm",
    ("member_id", "M13"): "crm",
    ("member_id", "M16"): "store",
    ("phone", "13700000013"): "miniprogram",
    ("phone", "13700000016"): "store",
    ("openid", "oX13"): "miniprogram",
    ("openid", "o15"): "miniprogram",
    ("openid", "o17"): "miniprogram",
    ("external_userid", "wm15"): "wecom",
    ("external_userid", "wm17"): "wecom",
    ("unionid", "U15"): "miniprogram",
    ("unionid", "U17"): "wecom",
}


def test_identity_map_first_channel_lets_a_registration_win_a_tie(core_db):
    rows = query(core_db, "select id_type, id_value, first_channel from intermediate.identity_map")
    got = {(t, v): ch for t, v, ch in rows if (t, v) in EXPECTED_IDENTIFIER_FIRST_CHANNEL}
    assert got == EXPECTED_IDENTIFIER_FIRST_CHANNEL
    # and agrees with dim_users for the identifier that decided the person's first channel
    agree = query(
        core_db,
        "select m.first_channel, u.first_channel from intermediate.identity_map as m "
        "inner join marts.dim_users as u on u.person_id = m.person_id "
        "where m.id_type = 'member_id' and m.id_value in ('M10', 'M11', 'M16')",
    )
    assert len(agree) == 3 and all(mine == theirs for mine, theirs in agree)


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

"""The floor (benchmarks/floor.sql), the pandas peer and the platform give the same core outputs
(issue 10): on a small generated brand, benchmarks.agreement.compare finds no difference between
any two of them, and it does find a difference planted in a copy of the platform's warehouse.

The brand runs what `siyu run` runs up to the marts, in-process on an ephemeral Dagster instance
(tests/conftest.run_daily, marts_only), with a canary salt: quotes and braces in it must reach the
floor as data, and the floor must key persons as the platform does (RFM breaks ties by key).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from benchmarks.agreement import compare, core_outputs_from_warehouse
from benchmarks.floor import run_floor
from benchmarks.peer_pandas import run_peer
from orchestration.cli import main as siyu
from tests.conftest import make_settings, run_daily, step_errors

pytestmark = pytest.mark.slow

SALT = "floor-canary-salt-'{{ 6 * 7 }}\""
PERSONS, DAYS, SEED = 300, 30, 7
START = dt.date(2026, 5, 1)
LAST_DAY = START + dt.timedelta(days=DAYS - 1)


@pytest.fixture(scope="module")
def brand(tmp_path_factory) -> Path:
    import dagster as dg

    data = tmp_path_factory.mktemp("floor_brand")
    args = [
        "generate", "--persons", str(PERSONS), "--days", str(DAYS), "--start", START.isoformat(),
        "--seed", str(SEED), "--out", str(data / "landing"), "--no-progress",
    ]  # fmt: skip
    assert siyu(args) == 0
    env = pytest.MonkeyPatch()
    env.setenv("SIYU_HASH_SALT", SALT)
    env.setenv("DBT_TARGET_PATH", str(data / "dbt_target"))
    env.delenv("DAGSTER_HOME", raising=False)
    try:
        settings = make_settings(data, SIYU_HASH_SALT=SALT)
        with dg.DagsterInstance.ephemeral() as instance:
            result = run_daily(settings, START, LAST_DAY, instance, marts_only=True)
        assert result.success, step_errors(result)
    finally:
        env.undo()
    return data


@pytest.fixture(scope="module")
def platform(brand) -> dict:
    return core_outputs_from_warehouse(brand / "warehouse.duckdb", LAST_DAY)


def test_floor_peer_and_platform_agree_exactly(brand, platform, tmp_path):
    floor = run_floor(brand / "landing", LAST_DAY, tmp_path / "floor.duckdb", "1GB", hash_salt=SALT)
    peer = run_peer(brand / "landing", LAST_DAY, hash_salt=SALT)

    # the outputs are not vacuous: every section holds data
    assert platform["persons"]["count"] > PERSONS / 2
    assert platform["orders"]["count"] > 0 and platform["orders"]["refunded"] > 0
    assert {k.split("/")[0] for k in platform["interactions"]["by_type"]} == {
        "miniprogram", "sms", "wecom_1v1", "wecom_group",
    }  # fmt: skip
    assert platform["rfm"]["buyers"] > 0 and platform["retention_summary"]
    assert any(r["d7_retained_users"] for r in platform["retention_summary"].values())
    # some CRM files were GBK and reached the floor as UTF-8 copies
    assert floor["_meta"]["gbk_files_converted"] > 0

    assert compare(platform, floor) == []
    assert compare(platform, peer) == []
    assert compare(floor, peer) == []


def test_a_difference_in_the_warehouse_is_reported(brand, platform, tmp_path):
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(brand / "warehouse.duckdb", copy)
    with duckdb.connect(str(copy)) as con:
        order_id, cents = con.execute(
            "select order_id, cast(round(amount * 100) as bigint) from marts.fct_orders "
            "where not is_refunded order by order_id limit 1"
        ).fetchone()
        con.execute("delete from marts.fct_orders where order_id = ?", [order_id])
        con.execute(
            "update marts.user_rfm set rfm_segment = 'champions' where as_of_date = ? and "
            "person_id = (select min(person_id) from marts.user_rfm where as_of_date = ? "
            "and rfm_segment <> 'champions')",
            [LAST_DAY, LAST_DAY],
        )
    perturbed = core_outputs_from_warehouse(copy, LAST_DAY)
    lines = compare(platform, perturbed)
    n = platform["orders"]["count"]
    assert f"orders.count: {n} != {n - 1}" in lines
    revenue = platform["orders"]["revenue_cents"]
    assert f"orders.revenue_cents: {revenue} != {revenue - cents}" in lines
    assert any(line.startswith("rfm.segments.champions:") for line in lines)
    assert any(line.startswith("rfm.scored_digest:") for line in lines)
    # the measures themselves were not touched
    assert not any(line.startswith("rfm.values_digest") for line in lines)
    # a key only one side has is reported too
    assert compare({"a": {"x": 1}}, {"a": {}}) == ["a.x: missing on the right (left has 1)"]

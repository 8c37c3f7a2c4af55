"""The raw lake (warehouse.lake) on a real DuckDB: what a load writes, rewrites and removes, who
may read it, and that ClickHouse (chDB) reads it unchanged with DuckDB's numbers."""

import datetime as dt
import stat
from decimal import Decimal

import chdb
import duckdb
import pytest

from privacy.erasure import erase_raw, suppression_of
from privacy.lake import days_holding, erase_lake
from warehouse.lake import day_dir, lake_days, parquet_glob, raw_table_dir, write_raw_days

D1, D2, D3 = dt.date(2026, 5, 1), dt.date(2026, 5, 2), dt.date(2026, 5, 3)


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute(
        "create table raw.crm__orders (order_id varchar, member_id varchar, amount varchar, "
        "_source_file varchar, _row_number bigint, _loaded_at timestamp, _partition_date date)"
    )
    rows = [
        (f"o{day.day}{i}", f"M{i % 4}", f"{10 * i + day.day}.50", f"crm/{day}/orders.csv", i)
        for day in (D1, D2, D3)
        for i in range(1, 6)
    ]
    con.executemany(
        "insert into raw.crm__orders values (?, ?, ?, ?, ?, timestamp '2026-05-04 01:00:00', "
        "cast(split_part(?, '/', 2) as date))",
        [(*r, r[3]) for r in rows],
    )
    yield con
    con.close()


def _lake_rows(con, lake) -> list[tuple]:
    return con.execute(
        "select * exclude (day) from read_parquet(?, hive_partitioning = true) order by order_id",
        [parquet_glob(lake, "crm__orders")],
    ).fetchall()


def test_days_are_written_as_hive_folders_with_every_raw_column(con, tmp_path):
    lake = tmp_path / "lake"
    assert write_raw_days(con, "crm__orders", [D1, D2, D3], lake) == {D1: 5, D2: 5, D3: 5}
    assert raw_table_dir(lake, "crm__orders") == lake / "raw" / "crm" / "orders"
    assert lake_days(lake, "crm__orders") == [D1, D2, D3]
    assert sorted(p.name for p in day_dir(lake, "crm__orders", D1).iterdir()) == ["data_0.parquet"]
    expected = con.execute("select * from raw.crm__orders order by order_id").fetchall()
    assert _lake_rows(con, lake) == expected
    # the Hive key prunes: one day's folder read alone holds that day only
    assert con.execute(
        "select distinct day, _partition_date from read_parquet(?, hive_partitioning = true)",
        [str(day_dir(lake, "crm__orders", D2) / "*.parquet")],
    ).fetchall() == [(D2, D2)]


def test_a_reload_replaces_its_days_removes_emptied_ones_and_leaves_the_rest(con, tmp_path):
    lake = tmp_path / "lake"
    write_raw_days(con, "crm__orders", [D1, D2, D3], lake)
    untouched = (day_dir(lake, "crm__orders", D3) / "data_0.parquet").stat()
    con.execute(f"delete from raw.crm__orders where _partition_date in ('{D1}', '{D2}')")
    con.execute(
        "insert into raw.crm__orders values ('o1new', 'M9', '1.00', 'crm/2026-05-01/orders.csv', "
        "1, timestamp '2026-05-05 01:00:00', date '2026-05-01')"
    )
    assert write_raw_days(con, "crm__orders", [D1, D2], lake) == {D1: 1, D2: 0}
    assert lake_days(lake, "crm__orders") == [D1, D3]
    assert [r[0] for r in _lake_rows(con, lake)] == ["o1new", *[f"o3{i}" for i in range(1, 6)]]
    after = (day_dir(lake, "crm__orders", D3) / "data_0.parquet").stat()
    assert (after.st_ino, after.st_mtime_ns) == (untouched.st_ino, untouched.st_mtime_ns)
    # nothing is left beside the day folders: no staging copy, no renamed-aside old folder
    assert sorted(p.name for p in raw_table_dir(lake, "crm__orders").iterdir()) == [
        "day=2026-05-01",
        "day=2026-05-03",
    ]
    assert not any((lake / ".staging").iterdir())


def test_the_lake_is_owner_only(con, tmp_path):
    lake = tmp_path / "lake"
    write_raw_days(con, "crm__orders", [D1], lake)
    folders = [lake / "raw", lake / "raw" / "crm", raw_table_dir(lake, "crm__orders")]
    folders.append(day_dir(lake, "crm__orders", D1))
    for folder in folders:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for f in day_dir(lake, "crm__orders", D1).iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


def test_a_name_that_is_no_raw_table_is_refused(con, tmp_path):
    with pytest.raises(ValueError, match="not a raw table name"):
        write_raw_days(con, "orders", [D1], tmp_path)


def test_erasure_rewrites_the_days_that_held_the_person(con, tmp_path):
    lake = tmp_path / "lake"
    write_raw_days(con, "crm__orders", [D1, D2, D3], lake)
    supp = suppression_of([("member_id", "M1")], "test-salt")
    assert days_holding(con, lake, "crm__orders", supp) == [D1, D2, D3]
    counts: dict[str, int] = {}
    erase_raw(con, supp, counts)
    assert counts["raw.crm__orders"] == 6  # i = 1 and 5 on each of three days
    assert erase_lake(con, lake, supp) == {"lake/raw/crm__orders": 6}
    assert days_holding(con, lake, "crm__orders", supp) == []
    assert (
        _lake_rows(con, lake)
        == con.execute("select * from raw.crm__orders order by order_id").fetchall()
    )
    for f in raw_table_dir(lake, "crm__orders").rglob("*.parquet"):
        assert b"M1" not in f.read_bytes(), f
    # a second erase finds nothing left and changes nothing
    assert erase_lake(con, lake, supp) == {"lake/raw/crm__orders": 0}


def test_clickhouse_reads_the_lake_unchanged(con, tmp_path):
    lake = tmp_path / "lake"
    write_raw_days(con, "crm__orders", [D1, D2, D3], lake)
    glob = parquet_glob(lake, "crm__orders")
    expected = con.execute(
        "select _partition_date::varchar, count(*), sum(amount::decimal(18, 2)) "
        "from raw.crm__orders group by 1 order by 1"
    ).fetchall()
    got = chdb.query(
        "select toString(_partition_date), count(), toString(sum(toDecimal64(amount, 2))) "
        f"from file('{glob}', Parquet) group by 1 order by 1",
        "CSV",
    )
    rows = [line.replace('"', "").split(",") for line in str(got).strip().splitlines()]
    assert [(d, int(n), Decimal(s)) for d, n, s in rows] == expected

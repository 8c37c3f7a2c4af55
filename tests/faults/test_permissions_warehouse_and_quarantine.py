"""The build database (raw phones, names, openids) and the quarantine (rejected files and rows with
their raw values) are owner-only: 0600 files in 0700 folders, like the restricted export.

Both are written outside privacy/ (orchestration/lib/resources.py WarehouseResource.connect,
ingestion/loader.py), which call `warehouse.files.make_private` / `private_dir`.
"""

from __future__ import annotations

import datetime as dt
import os
import stat

import duckdb
import pytest

from tests.fixtures.tiny_landing import DAY1, write_tiny_landing

pytestmark = pytest.mark.fault("permissions")


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(autouse=True)
def open_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_the_warehouse_resource_makes_the_build_database_owner_only(tmp_path):
    from orchestration.lib.resources import WarehouseResource

    path = tmp_path / "data" / "warehouse.duckdb"
    with WarehouseResource(path=str(path)).connect() as con:
        con.execute("create table t as select '13800138001' as phone")
    assert mode(path) == 0o600
    os.chmod(path, 0o644)  # a file made before the change is tightened by the next writer
    with WarehouseResource(path=str(path)).connect() as con:
        con.execute("insert into t values ('13900139002')")
    assert mode(path) == 0o600
    with WarehouseResource(path=str(path)).connect(read_only=True) as con:
        assert con.execute("select count(*) from t").fetchall()[0][0] == 2


def test_quarantined_files_and_rows_are_owner_only(tmp_path):
    from ingestion.entities import entity
    from ingestion.loader import load_days

    landing = write_tiny_landing(tmp_path / "landing")
    bad_day = DAY1 + dt.timedelta(days=2)
    (landing / "crm" / bad_day.isoformat()).mkdir(parents=True)
    (landing / "crm" / bad_day.isoformat() / "orders.csv").write_bytes(b"")  # a file error
    quarantine = tmp_path / "quarantine"
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    orders = entity("crm", "orders")
    load_days(con, orders, [DAY1], landing, quarantine, suppressed={})  # a rejected row
    load_days(con, orders, [bad_day], landing, quarantine, suppressed={})  # a rejected file
    files = [p for p in quarantine.rglob("*") if p.is_file()]
    folders = [quarantine, *(p for p in quarantine.rglob("*") if p.is_dir())]
    assert any("rows" in p.parts for p in files) and any("files" in p.parts for p in files)
    assert {str(p): mode(p) for p in files} == {str(p): 0o600 for p in files}
    assert {str(p): mode(p) for p in folders} == {str(p): 0o700 for p in folders}

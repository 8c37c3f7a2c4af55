"""Erasure leaves no erased value in the build database file's bytes: DuckDB marks deleted rows
and frees their blocks without overwriting them, so `siyu erase` rewrites the file
(warehouse.files.rewrite_duckdb_file) after deleting."""

from __future__ import annotations

import os
import stat

import duckdb
import pytest

pytestmark = pytest.mark.fault("erasure")

PERSONS = 4_000
ERASED_PHONE_RAW = "+86 135-3165-6470"
ERASED_PHONE = "13531656470"
ERASED_OPENID = "o5oFYL7dvLln-6N4DFg4pzU6g0dv"
ERASED_MEMBER = "M0002123"


def _phone(i: int) -> str:
    return f"+86 139-{i // 10_000:04d}-{i % 10_000:04d}"


def write_warehouse(path) -> None:
    """A build database with raw members and mini-program users, identity_map and a mart; the
    erased person is one of PERSONS, written in persistent blocks (checkpointed)."""
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema raw; create schema intermediate; create schema marts")
        con.execute(f"""create table raw.crm__members as
            select 'M' || lpad(range::varchar, 7, '0') as member_id,
                   case when range = 2123 then '{ERASED_PHONE_RAW}' else
                   '+86 139-' || lpad((range // 10000)::varchar, 4, '0') || '-'
                   || lpad((range % 10000)::varchar, 4, '0') end as phone,
                   '姓名' || range as name, range::varchar as _row_number
            from range({PERSONS})""")
        con.execute(f"""create table raw.miniprogram__users as
            select case when range = 2123 then '{ERASED_OPENID}' else
                   'o' || md5(range::varchar)[:27] end as openid,
                   null::varchar as unionid, null::varchar as phone_number
            from range({PERSONS})""")
        con.execute("""create table intermediate.identity_map as
            select 'member_id' as id_type, member_id as id_value, 'p_' || member_id as person_id
            from raw.crm__members
            union all
            select 'phone', replace(replace(replace(phone, '+86 ', ''), '-', ''), ' ', ''),
                   'p_' || member_id from raw.crm__members
            union all
            select 'openid', u.openid, 'p_' || m.member_id
            from raw.miniprogram__users u positional join raw.crm__members m""")
        con.execute(
            "create table marts.dim_users as select distinct person_id, 'city' as city "
            "from intermediate.identity_map"
        )
        con.execute("checkpoint")
    finally:
        con.close()


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    path = data / "warehouse.duckdb"
    write_warehouse(path)
    monkeypatch.setenv("SIYU_DATA_DIR", str(data))
    monkeypatch.setenv("SIYU_HASH_SALT", "bytes-test-salt")
    return path


def test_the_fixture_holds_the_values_in_its_bytes(warehouse):
    data = warehouse.read_bytes()
    assert ERASED_PHONE_RAW.encode() in data and ERASED_OPENID.encode() in data


def test_siyu_erase_leaves_no_erased_value_in_the_file(warehouse):
    from orchestration.erase_cli import main as erase

    assert erase(["--phone", ERASED_PHONE, "--requested-by", "t"]) == 0
    data = warehouse.read_bytes()
    for value in (
        ERASED_PHONE_RAW,
        ERASED_PHONE,
        ERASED_OPENID,
        ERASED_MEMBER,
        "p_" + ERASED_MEMBER,
    ):
        assert value.encode() not in data, value
    assert not os.path.exists(str(warehouse) + ".wal")
    # everything else is still there, readable, and the file is owner-only
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from raw.crm__members").fetchall()[0][0] == PERSONS - 1
        assert (
            con.execute("select count(*) from raw.miniprogram__users").fetchall()[0][0]
            == PERSONS - 1
        )
        assert con.execute("select count(*) from marts.dim_users").fetchall()[0][0] == PERSONS - 1
        assert con.execute("select count(*) from privacy.suppression_list").fetchall()[0][0] == 3
        assert con.execute("select count(*) from privacy.erasure_audit").fetchall()[0][0] == 1
    assert stat.S_IMODE(warehouse.stat().st_mode) == 0o600
    leftovers = [p.name for p in warehouse.parent.iterdir() if ".rewrite-" in p.name]
    assert leftovers == []


def test_rewrite_keeps_every_object_and_row(tmp_path):
    from warehouse.files import rewrite_duckdb_file

    path = tmp_path / "warehouse.duckdb"
    write_warehouse(path)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema staging")
        # a view naming the catalog, as dbt-duckdb writes them
        con.execute(
            'create view staging.stg_members as select * from "warehouse"."raw"."crm__members"'
        )
        con.execute("create view staging.stg_users as select * from raw.miniprogram__users")
        con.execute("create sequence raw.seq start 7")
        con.execute("create macro raw.twice(x) as x * 2")
        con.execute("delete from raw.crm__members where member_id = ?", [ERASED_MEMBER])
    assert ERASED_PHONE_RAW.encode() in path.read_bytes()  # deleted, still in the bytes

    sizes = rewrite_duckdb_file(path)

    assert ERASED_PHONE_RAW.encode() not in path.read_bytes()
    assert sizes["bytes_after"] == path.stat().st_size
    with duckdb.connect(str(path)) as con:
        assert (
            con.execute("select count(*) from staging.stg_members").fetchall()[0][0] == PERSONS - 1
        )
        assert con.execute("select count(*) from staging.stg_users").fetchall()[0][0] == PERSONS
        assert con.execute("select nextval('raw.seq')").fetchall()[0][0] == 7
        assert con.execute("select raw.twice(21)").fetchall()[0][0] == 42
        assert (
            con.execute("select count(*) from intermediate.identity_map").fetchall()[0][0]
            == 3 * PERSONS
        )


def test_a_failed_rewrite_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    from warehouse import files

    path = tmp_path / "warehouse.duckdb"
    write_warehouse(path)
    before = path.read_bytes()

    def broken_fsync(p):
        raise OSError("disk full")

    monkeypatch.setattr(files, "fsync_path", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        files.rewrite_duckdb_file(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["warehouse.duckdb"]


def test_a_failed_rewrite_is_audited_and_the_erase_asks_for_a_rerun(warehouse, monkeypatch, capsys):
    import json

    from orchestration.erase_cli import main as erase
    from warehouse import files

    def no_space(path):
        raise OSError(28, "No space left on device")

    rewrite = files.rewrite_duckdb_file
    monkeypatch.setattr(files, "rewrite_duckdb_file", no_space)
    assert erase(["--phone", ERASED_PHONE, "--requested-by", "t"]) == 1
    assert "run the same erase again" in capsys.readouterr().err
    audit = warehouse.parent / "privacy" / "erasure_audit.jsonl"
    entry = json.loads(audit.read_text(encoding="utf-8").splitlines()[-1])
    assert entry["build_database"]["rewritten"] is False
    assert "No space left" in entry["build_database"]["error"]
    with duckdb.connect(str(warehouse), read_only=True) as con:  # the erasure itself stands
        assert (
            con.execute(
                "select count(*) from raw.crm__members where member_id = ?", [ERASED_MEMBER]
            ).fetchall()[0][0]
            == 0
        )
    monkeypatch.setattr(files, "rewrite_duckdb_file", rewrite)
    assert erase(["--phone", ERASED_PHONE, "--requested-by", "t"]) == 0  # the rerun rewrites
    assert ERASED_OPENID.encode() not in warehouse.read_bytes()

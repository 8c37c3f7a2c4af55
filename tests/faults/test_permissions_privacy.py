"""Personal data on disk is owner-only (0600 files, 0700 folders) whatever the umask: the privacy
logs (suppression list, erasure audit), the build database after an erasure, and the helper
`warehouse.files.make_private` that ingestion and the warehouse resource call. Published files stay
readable by BI readers."""

from __future__ import annotations

import json
import os
import stat

import duckdb
import pytest

pytestmark = pytest.mark.fault("permissions")

SALT = "permissions-test-salt"


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(autouse=True)
def open_umask():
    """The usual umask 022 (files 0644, folders 0755 unless made private)."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_make_private_file_and_folder(tmp_path):
    from warehouse.files import make_private

    folder = tmp_path / "quarantine"
    folder.mkdir()
    file = folder / "orders.csv"
    file.write_text("x\n")
    assert mode(file) == 0o644 and mode(folder) == 0o755
    assert make_private(file) == file
    assert make_private(str(folder)) == folder
    assert mode(file) == 0o600 and mode(folder) == 0o700
    make_private(file)  # idempotent
    assert mode(file) == 0o600 and file.read_text() == "x\n"


def test_make_private_tightens_a_wider_file(tmp_path):
    from warehouse.files import make_private

    file = tmp_path / "warehouse.duckdb"
    file.write_bytes(b"")
    os.chmod(file, 0o666)
    make_private(file)
    assert mode(file) == 0o600


def test_make_private_of_a_missing_path_raises(tmp_path):
    from warehouse.files import make_private

    with pytest.raises(FileNotFoundError):
        make_private(tmp_path / "absent")


def test_private_dir_makes_every_folder_from_the_root_owner_only(tmp_path):
    """What quarantine writing needs: <quarantine>/files/<source>/<day>/ all 0700."""
    from warehouse.files import private_dir

    root = tmp_path / "quarantine"
    root.mkdir()
    above = mode(tmp_path)
    assert mode(root) == 0o755
    day = private_dir(root / "files" / "crm" / "2026-05-01", root=root)
    assert day == root / "files" / "crm" / "2026-05-01"
    for folder in (root, root / "files", root / "files" / "crm", day):
        assert mode(folder) == 0o700, folder
    assert mode(tmp_path) == above  # above the root: untouched
    with pytest.raises(ValueError, match="not a folder above"):
        private_dir(tmp_path / "elsewhere", root=root)


def test_suppression_list_file_is_owner_only(tmp_path):
    from privacy import suppression

    path = tmp_path / "data" / "privacy" / "suppression_list.jsonl"
    con = duckdb.connect()
    suppression.add(con, [("phone", "13800138001")], SALT, "e1", path=path)
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    # a list written earlier with the umask's 0644 is tightened by the next append
    os.chmod(path, 0o644)
    suppression.add(con, [("phone", "13900139002")], SALT, "e2", path=path)
    assert mode(path) == 0o600
    assert len(path.read_text(encoding="utf-8").splitlines()) == 2


def test_erasure_audit_and_suppression_files_are_owner_only(tmp_path):
    from privacy.erasure import ErasureRequest, audit_entry, erase_build_db, write_audit

    privacy_dir = tmp_path / "data" / "privacy"
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("create schema intermediate")
    con.execute(
        "create table intermediate.identity_map as select 'phone' as id_type, "
        "'13800138001' as id_value, 'p_1' as person_id"
    )
    request = ErasureRequest([("phone", "13800138001")], requested_by="t")
    result = erase_build_db(
        con, request, SALT, suppression_path=privacy_dir / "suppression_list.jsonl"
    )
    write_audit(con, audit_entry(request, result, SALT), privacy_dir / "erasure_audit.jsonl")
    assert mode(privacy_dir) == 0o700
    assert mode(privacy_dir / "suppression_list.jsonl") == 0o600
    assert mode(privacy_dir / "erasure_audit.jsonl") == 0o600
    entry = json.loads((privacy_dir / "erasure_audit.jsonl").read_text(encoding="utf-8"))
    assert entry["persons"] == 1


def test_a_wide_privacy_folder_is_tightened(tmp_path):
    from privacy.erasure import ErasureRequest, ErasureResult, audit_entry, write_audit

    privacy_dir = tmp_path / "privacy"
    privacy_dir.mkdir(mode=0o755)
    request = ErasureRequest([("phone", "13800138001")], requested_by="t")
    entry = audit_entry(request, ErasureResult("e1", [], [("phone", "13800138001")]), SALT)
    write_audit(duckdb.connect(), entry, privacy_dir / "erasure_audit.jsonl")
    assert mode(privacy_dir) == 0o700


def test_rewritten_database_is_owner_only(tmp_path):
    from warehouse.files import rewrite_duckdb_file

    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create table t as select range as x from range(10)")
    assert mode(path) == 0o644
    rewrite_duckdb_file(path)
    assert mode(path) == 0o600
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("select count(*) from t").fetchall()[0][0] == 10


def test_published_files_stay_readable_after_an_erasure(tmp_path, monkeypatch):
    """The erasure republishes: the new serving file, Parquet and folders keep group/other read
    (BI readers), while the build database and the privacy logs are owner-only."""
    from orchestration.erase_cli import main as erase
    from publishing import publish

    data = tmp_path / "data"
    data.mkdir()
    warehouse = data / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema intermediate; create schema marts")
        con.execute(
            "create table intermediate.identity_map as select 'phone' as id_type, "
            "'1380013' || lpad(range::varchar, 4, '0') as id_value, 'p_' || range as person_id "
            "from range(20)"
        )
        con.execute(
            "create table marts.dim_users as select person_id, 'city' as city "
            "from intermediate.identity_map"
        )
    publish(
        warehouse,
        ["dim_users"],
        serving_path=data / "serving.duckdb",
        published_dir=data / "published",
        run_id="r1",
        check_summary={"dim_users": {"passed": True}},
    )
    monkeypatch.setenv("SIYU_DATA_DIR", str(data))
    monkeypatch.setenv("SIYU_HASH_SALT", SALT)
    assert erase(["--phone", "13800130003", "--requested-by", "t"]) == 0

    live = (data / "serving.duckdb").resolve()
    assert live.parent.name.startswith("v000002")
    for path in (live, live.parent / "parquet" / "dim_users.parquet"):
        assert mode(path) & 0o044 == 0o044, path
    for folder in (live.parent, live.parent / "parquet", live.parent.parent):
        assert mode(folder) & 0o055 == 0o055, folder
    versions = sorted(live.parent.parent.glob("v0*"))
    assert len(versions) == 2  # the older one is kept (cleaned), not deleted
    for version in versions:
        assert mode(version / "serving.duckdb") & 0o044 == 0o044, version
        assert mode(version / "parquet" / "dim_users.parquet") & 0o044 == 0o044, version
    assert mode(warehouse) == 0o600
    assert mode(data / "privacy") == 0o700
    assert mode(data / "privacy" / "erasure_audit.jsonl") == 0o600
    assert mode(data / "privacy" / "suppression_list.jsonl") == 0o600

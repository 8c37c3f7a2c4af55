"""Privacy on a real pipeline run (generator -> `siyu run` -> restricted export), once per module:
first the PII scan of everything published, then an erasure and a re-load of the erased person's
landing day. Tests run in file order: the scan sees the run before the erasure."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from tests.conftest import make_settings

pytestmark = pytest.mark.slow

PERSONS, DAYS, START = 1500, 95, dt.date(2026, 5, 1)
SALT = "privacy-test-salt"
MIN_LEN = 8  # shorter identifiers would match by accident
_TOKEN = re.compile(r"[A-Za-z0-9_\-]{8,}")
_PHONE_LIKE = re.compile(r"\+?[0-9][0-9 \-]{9,20}[0-9]")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from orchestration.cli import main as siyu

    mp = pytest.MonkeyPatch()
    data = tmp_path_factory.mktemp("privacy_run")
    _point_env_at(mp, data)
    assert (
        siyu(
            [
                "generate",
                "--persons",
                str(PERSONS),
                "--days",
                str(DAYS),
                "--start",
                START.isoformat(),
                "--seed",
                "3",
                "--out",
                str(data / "landing"),
                "--no-progress",
            ]
        )
        == 0
    )
    assert siyu(["run"]) == 0
    settings = make_settings(data, SIYU_HASH_SALT=SALT)
    _materialize_export(settings, START + dt.timedelta(days=DAYS - 1))
    yield settings
    mp.undo()


def _point_env_at(mp: pytest.MonkeyPatch, data: Path) -> None:
    """The CLI reads its data dir from the environment; conftest clears SIYU_* before each test,
    so every test that calls the CLI points it at the run again (never at ./data)."""
    mp.setenv("SIYU_DATA_DIR", str(data))
    mp.setenv("SIYU_HASH_SALT", SALT)
    mp.setenv("DAGSTER_HOME", str(data / "dagster_home"))


@pytest.fixture
def cli_env(run, monkeypatch):
    _point_env_at(monkeypatch, run.data_dir)
    return run


def _materialize_export(settings, day: dt.date) -> None:
    """The restricted export asset for the run's last day (also part of the daily job once wired)."""
    from orchestration.defs.activation import build_activation_assets
    from orchestration.lib.partitions import daily_partitions
    from orchestration.lib.resources import SiyuSettingsResource, WarehouseResource

    assets = build_activation_assets(daily_partitions(settings.start_date))
    result = dg.materialize(
        assets,
        partition_key=day.isoformat(),
        resources={
            "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
            "siyu": SiyuSettingsResource(**settings.as_strings()),
        },
    )
    assert result.success


# ------------------------------------------------------------------------------ scanning


def tokens(text: str) -> set[str]:
    """Identifier-like substrings of a value: words of 8+ characters and phones in any format."""
    from privacy.hashing import normalize_phone

    out = set(_TOKEN.findall(text))
    out |= {p for p in map(normalize_phone, _PHONE_LIKE.findall(text)) if p}
    return out


def scan_duckdb(path: Path, needles: set[str]) -> dict[str, set[str]]:
    """Needles found in any text column of any table or view of a DuckDB file."""
    found: dict[str, set[str]] = {}
    with duckdb.connect(str(path), read_only=True) as con:
        cols = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where data_type = 'VARCHAR' and table_schema not in "
            "('information_schema', 'pg_catalog')"
        ).fetchall()
        for schema, table, col in cols:
            values = con.execute(
                f'select distinct "{col}" from "{schema}"."{table}" where "{col}" is not null'
            ).fetchall()
            hits = {t for (v,) in values for t in tokens(v)} & needles
            if hits:
                found[f"{path.name}:{schema}.{table}.{col}"] = hits
    return found


def scan_parquet(path: Path, needles: set[str]) -> set[str]:
    frame = pd.read_parquet(path)
    hits: set[str] = set()
    for col in frame.columns:
        if frame[col].dtype == object or str(frame[col].dtype).startswith("string"):
            for v in frame[col].dropna().astype(str).unique():
                hits |= tokens(v) & needles
    return hits


def scan_text_files(root: Path, needles: set[str]) -> dict[str, set[str]]:
    found = {}
    for path in (p for p in root.rglob("*") if p.is_file()) if root.exists() else []:
        text = path.read_bytes().decode("utf-8", errors="ignore")
        hits = tokens(text) & needles
        if hits:
            found[str(path)] = hits
    return found


def truth_values(settings) -> set[str]:
    truth = pd.read_parquet(settings.landing_dir / "_truth" / "identities.parquet")
    return {v for v in truth["id_value"].dropna().astype(str) if len(v) >= MIN_LEN}


# ------------------------------------------------------------------------------ tests


def test_published_outputs_hold_no_raw_identifier(run):
    needles = truth_values(run)
    assert len(needles) > 1000
    assert run.serving_path.exists() and any(run.published_dir.glob("*.parquet"))
    with duckdb.connect(str(run.serving_path), read_only=True) as con:
        published = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        }
        assert "next_best_actions" in published
        assert con.execute("select count(*) from marts.next_best_actions").fetchone()[0] > 0
    assert scan_duckdb(run.serving_path, needles) == {}
    for parquet in run.data_dir.rglob("*.parquet"):
        # the landing files and the raw lake are raw data (owner-only), not published outputs
        if "landing" not in parquet.parts and "lake" not in parquet.parts:
            assert scan_parquet(parquet, needles) == set(), parquet


def test_restricted_export_is_mass_send_shaped_and_apart(run):
    files = sorted((run.restricted_dir / "wecom_mass_send").glob("*.json"))
    assert files and not str(files[0]).startswith(str(run.published_dir.resolve()))
    payloads = json.loads(files[-1].read_text(encoding="utf-8"))
    assert payloads
    for p in payloads:
        assert set(p) == {"chat_type", "external_userid", "sender", "text"}
        assert p["chat_type"] == "single" and p["external_userid"] and p["text"]["content"]
    assert (files[-1].stat().st_mode & 0o077) == 0  # owner only


# ------------------------------------------------------- erasure after a blocked run (a copy)

UNAUDITED_CITY = "UNAUDITED-CHANGE"
UNAUDITED_ORDER = "UNAUDITED-2099"


def published_frames(path: Path) -> dict[str, pd.DataFrame]:
    """Every published table of a serving DuckDB file, without publication_version, rows in a
    canonical order (so two publications compare row for row)."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where "
                "table_schema = 'marts' and table_name <> '_publication'"
            ).fetchall()
        ]
        frames = {}
        for table in tables:
            frame = con.execute(f'select * exclude (publication_version) from marts."{table}"').df()
            frames[table] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return frames


@pytest.fixture(scope="module")
def blocked_then_erased(run, tmp_path_factory):
    """A copy of the run, published a second time (so an older version is kept), then a blocked
    run: the build database holds marts that did not pass the audit (a 2099 order, a changed
    city). One person (with a phone and an openid) is erased there by the CLI."""
    from orchestration.erase_cli import main as erase
    from publishing import list_versions, live_version, publish, record_blocked

    data = tmp_path_factory.mktemp("blocked_run")
    shutil.copytree(run.data_dir, data, symlinks=True, dirs_exist_ok=True)
    settings = make_settings(data, SIYU_HASH_SALT=SALT)
    versions_dir = settings.serving_path.parent / "publications"
    first = live_version(settings.serving_path)
    manifest = json.loads((versions_dir / first / "manifest.json").read_text(encoding="utf-8"))
    publish(
        settings.warehouse_path,
        list(manifest["row_counts"]),
        serving_path=settings.serving_path,
        published_dir=settings.published_dir,
        versions_dir=versions_dir,
        run_id="second-run",
        check_summary=manifest["check_summary"],
        keep_versions=5,
    )
    live = live_version(settings.serving_path)
    before = published_frames(settings.serving_path)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        person_id = con.execute("""
            select person_id from intermediate.identity_map where person_id is not null
            group by person_id
            having count(*) filter (where id_type = 'phone') > 0
               and count(*) filter (where id_type = 'openid') > 0
               and person_id in (select person_id from marts.fct_orders)
               and person_id in (select person_id from marts.fct_interactions)
            order by person_id limit 1""").fetchall()[0][0]
        identifiers = con.execute(
            "select id_type, id_value from intermediate.identity_map where person_id = ?",
            [person_id],
        ).fetchall()
        other = con.execute(
            "select min(person_id) from marts.dim_users where person_id <> ?", [person_id]
        ).fetchall()[0][0]
        # what a blocked run leaves in the build database: marts the audit refused
        con.execute(
            "update marts.dim_users set city = ? where person_id = ?", [UNAUDITED_CITY, other]
        )
        con.execute(
            "insert into marts.fct_orders select * replace (? as order_id, "
            "timestamp '2099-01-01 10:00:00' as ordered_at, date '2099-01-01' as ordered_date) "
            "from marts.fct_orders where person_id = ? limit 1",
            [UNAUDITED_ORDER, person_id],
        )
        con.execute(
            "insert into marts.fct_orders select * replace (? as order_id, "
            "timestamp '2099-01-01 10:00:00' as ordered_at, date '2099-01-01' as ordered_date) "
            "from marts.fct_orders where person_id = ? limit 1",
            [UNAUDITED_ORDER + "-b", other],
        )
    record_blocked(
        versions_dir,
        run_id="blocked-run",
        check_summary={"fct_orders": {"passed": False, "reason": "ordered_at in 2099"}},
    )
    kept = [v["version"] for v in list_versions(serving_path=settings.serving_path)]
    mp = pytest.MonkeyPatch()
    _point_env_at(mp, data)
    phone = next(v for t, v in identifiers if t == "phone")
    try:
        assert erase(["--phone", phone, "--requested-by", "dpo@example.com"]) == 0
    finally:
        mp.undo()
    return {
        "settings": settings,
        "person_id": person_id,
        "identifiers": identifiers,
        "before": before,
        "live_before": live,
        "kept_before": kept,
        "other": other,
    }


def test_erasure_after_a_blocked_run_publishes_the_last_good_publication_minus_the_person(
    blocked_then_erased,
):
    from publishing import live_version

    b = blocked_then_erased
    settings, person_id = b["settings"], b["person_id"]
    live = live_version(settings.serving_path)
    assert live not in b["kept_before"]  # a new version
    after = published_frames(settings.serving_path)
    assert set(after) == set(b["before"])
    removed = 0
    for table, frame in b["before"].items():
        expected = frame
        if "person_id" in frame.columns:
            expected = frame[frame["person_id"] != person_id].reset_index(drop=True)
        removed += len(frame) - len(expected)
        pd.testing.assert_frame_equal(after[table], expected, check_dtype=True, obj=table)
    assert removed > 2 and len(after["dim_users"]) == len(b["before"]["dim_users"]) - 1
    # the unaudited marts of the build database were not published
    assert UNAUDITED_CITY not in set(after["dim_users"]["city"].dropna())
    assert not after["fct_orders"]["order_id"].str.startswith(UNAUDITED_ORDER).any()
    assert (after["fct_orders"]["ordered_at"].dt.year < 2099).all()
    # the Parquet folder is the same publication
    parquet = Path(os.path.realpath(settings.published_dir))
    assert parquet.parent.name == live
    assert len(pd.read_parquet(parquet / "dim_users.parquet")) == len(after["dim_users"])
    with duckdb.connect(str(settings.serving_path), read_only=True) as con:
        summary = json.loads(
            con.execute("select check_summary from marts._publication").fetchall()[0][0]
        )
    assert set(summary) == set(after)
    for result in summary.values():
        assert result["passed"] is True and result["from_version"] == b["live_before"]
        assert "last audited publication" in result["note"] and "minus" in result["note"]


def test_erasure_after_a_blocked_run_removes_the_person_from_the_build_database(
    blocked_then_erased,
):
    b = blocked_then_erased
    with duckdb.connect(str(b["settings"].warehouse_path), read_only=True) as con:
        for table in ("dim_users", "fct_orders", "fct_interactions"):
            assert (
                con.execute(
                    f"select count(*) from marts.{table} where person_id = ?", [b["person_id"]]
                ).fetchall()[0][0]
                == 0
            ), table
        assert (
            con.execute(
                "select count(*) from intermediate.identity_map where person_id = ?",
                [b["person_id"]],
            ).fetchall()[0][0]
            == 0
        )
    needles = {v for _, v in b["identifiers"] if len(v) >= MIN_LEN} | {b["person_id"]}
    assert scan_duckdb(b["settings"].warehouse_path, needles) == {}


def test_erasure_cleans_every_kept_version_and_says_so(blocked_then_erased):
    from publishing import list_versions, rollback

    b = blocked_then_erased
    settings = b["settings"]
    needles = {v for _, v in b["identifiers"] if len(v) >= MIN_LEN} | {b["person_id"]}
    versions = {v["version"]: v for v in list_versions(serving_path=settings.serving_path)}
    assert set(b["kept_before"]) <= set(versions)  # kept for rollback, not deleted wholesale
    for name, manifest in versions.items():
        folder = Path(manifest["path"])
        assert scan_duckdb(folder / "serving.duckdb", needles) == {}, name
        for parquet in (folder / "parquet").glob("*.parquet"):
            assert scan_parquet(parquet, needles) == set(), parquet
        with duckdb.connect(str(folder / "serving.duckdb"), read_only=True) as con:
            assert (
                json.loads(
                    con.execute("select row_counts from marts._publication").fetchall()[0][0]
                )
                == manifest["row_counts"]
            )
            assert (
                con.execute("select count(*) from marts.dim_users").fetchall()[0][0]
                == manifest["row_counts"]["dim_users"]
            )
    lines = (
        (settings.data_dir / "privacy" / "erasure_audit.jsonl")
        .read_text(encoding="utf-8")
        .splitlines()
    )
    publication = json.loads(lines[-1])["publication"]
    assert publication["from_version"] == b["live_before"]
    for name in b["kept_before"]:
        assert publication["versions"][name]["action"] == "cleaned", name
        assert publication["versions"][name]["rows_removed"]["dim_users"] == 1
        assert versions[name]["erasures"][-1]["rows_removed"]["dim_users"] == 1
    # an older version rolls back and shows neither the person nor the unaudited change
    oldest = b["kept_before"][0]
    rollback(oldest, serving_path=settings.serving_path, published_dir=settings.published_dir)
    frames = published_frames(settings.serving_path)
    assert b["person_id"] not in set(frames["dim_users"]["person_id"])
    assert UNAUDITED_CITY not in set(frames["dim_users"]["city"].dropna())
    assert len(frames["dim_users"]) == len(b["before"]["dim_users"]) - 1


def values_in_bytes(path: Path, identifiers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The identifiers whose value is in a file's raw bytes; a phone in any raw form
    (+86 135-3165-6470, 135 3165 6470)."""
    data = path.read_bytes()
    found = []
    for id_type, value in identifiers:
        if id_type == "phone":
            pattern = re.compile(rb"[ \-]*".join(re.escape(d.encode()) for d in value))
            if pattern.search(data):
                found.append((id_type, value))
        elif len(value) >= MIN_LEN and value.encode() in data:
            found.append((id_type, value))
    return found


def test_erasure_after_a_blocked_run_leaves_no_value_in_the_warehouse_bytes(blocked_then_erased):
    b = blocked_then_erased
    assert {"phone", "openid"} <= {t for t, _ in b["identifiers"]}
    assert (
        values_in_bytes(
            b["settings"].warehouse_path, [*b["identifiers"], ("person_id", b["person_id"])]
        )
        == []
    )


LAST_DAY = START + dt.timedelta(days=DAYS - 1)


@pytest.fixture(scope="module")
def erased(run):
    """Erase one person, by phone in its raw form: a CRM member with activity in the last landing
    day (so re-running that day re-delivers them), in today's WeCom plan when possible."""
    from orchestration.erase_cli import main as erase

    with duckdb.connect(str(run.warehouse_path), read_only=True) as con:
        person_id, phone = con.execute(
            """
            with last_day as (
                select 'openid' as id_type, openid as id_value from raw.miniprogram__events
                where _partition_date = $day
                union all
                select 'member_id', member_id from raw.crm__orders where _partition_date = $day
                union all
                select 'external_userid', external_userid from raw.wecom__campaign_sends
                where _partition_date = $day
            )
            select m.person_id, min(c.phone)
            from intermediate.identity_map m
            join last_day l on l.id_type = m.id_type and l.id_value = m.id_value
            join intermediate.identity_map mm on mm.person_id = m.person_id and mm.id_type = 'member_id'
            join raw.crm__members c on c.member_id = mm.id_value and c.phone is not null
            join intermediate.identity_map ph on ph.person_id = m.person_id and ph.id_type = 'phone'
            left join marts.next_best_actions n on n.person_id = m.person_id and n.channel = 'wecom_1v1'
            where m.person_id is not null
            group by m.person_id
            order by max(case when n.person_id is not null then 1 else 0 end) desc, m.person_id
            limit 1""",
            {"day": LAST_DAY},
        ).fetchall()[0]
        identifiers = con.execute(
            "select id_type, id_value from intermediate.identity_map where person_id = ?",
            [person_id],
        ).fetchall()
    mp = pytest.MonkeyPatch()
    _point_env_at(mp, run.data_dir)
    try:
        assert erase(["--phone", phone, "--requested-by", "dpo@example.com"]) == 0
    finally:
        mp.undo()
    needles = {v for _, v in identifiers} | {person_id}
    return {"person_id": person_id, "identifiers": identifiers, "needles": needles}


def _assert_no_trace(run, needles: set[str]) -> None:
    found = scan_duckdb(run.warehouse_path, needles)
    found.update(scan_duckdb(run.serving_path, needles))
    for parquet in run.data_dir.rglob("*.parquet"):
        if "landing" not in parquet.parts and (hits := scan_parquet(parquet, needles)):
            found[str(parquet)] = hits
    for root in (run.quarantine_dir, run.restricted_dir, run.data_dir / "privacy"):
        found.update(scan_text_files(root, needles))
    assert found == {}


def test_erasure_leaves_no_trace(run, erased):
    assert len(erased["identifiers"]) >= 3
    # the raw lake (SIYU_LAKE_DIR, default <data>/lake) is among the Parquet scanned below
    assert any((run.data_dir / "lake" / "raw" / "crm" / "members").rglob("*.parquet"))
    _assert_no_trace(run, erased["needles"])
    # the live version is the post-erasure one; the older one is kept, cleaned
    versions = sorted(
        p
        for p in (run.serving_path.parent / "publications").iterdir()
        if p.is_dir() and p.name.startswith("v")
    )
    assert len(versions) == 2 and run.serving_path.resolve().parent == versions[-1].resolve()
    for version in versions:
        assert scan_duckdb(version / "serving.duckdb", erased["needles"]) == {}


def test_erased_values_leave_the_warehouse_file_bytes(run, erased):
    assert {"phone", "openid"} <= {t for t, _ in erased["identifiers"]}
    assert (
        values_in_bytes(
            run.warehouse_path, [*erased["identifiers"], ("person_id", erased["person_id"])]
        )
        == []
    )


def test_erasure_leaves_personal_data_owner_only_and_published_files_readable(run, erased):
    privacy_dir = run.data_dir / "privacy"
    assert privacy_dir.stat().st_mode & 0o777 == 0o700
    for name in ("erasure_audit.jsonl", "suppression_list.jsonl"):
        assert (privacy_dir / name).stat().st_mode & 0o777 == 0o600, name
    assert run.warehouse_path.stat().st_mode & 0o777 == 0o600
    lake = run.data_dir / "lake"
    for path in [lake, *lake.rglob("*")]:
        assert path.stat().st_mode & 0o077 == 0, path  # raw personal data: owner only
    live = run.serving_path.resolve()
    for path in [live, *live.parent.glob("parquet/*.parquet")]:
        assert path.stat().st_mode & 0o044 == 0o044, path  # group and others read
    for folder in (live.parent, live.parent / "parquet", live.parent.parent):
        assert folder.stat().st_mode & 0o055 == 0o055, folder


def test_erasure_is_audited_with_hashed_references(run, erased):
    lines = (
        (run.data_dir / "privacy" / "erasure_audit.jsonl").read_text(encoding="utf-8").splitlines()
    )
    entry = json.loads(lines[-1])
    assert entry["requested_by"] == "dpo@example.com" and entry["persons"] == 1
    assert entry["counts"]["marts.dim_users"] == 1 and entry["counts"]["raw.crm__members"] >= 1
    # the lake lost the same raw rows as the build database
    assert entry["counts"]["lake/raw/crm__members"] == entry["counts"]["raw.crm__members"]
    assert len(entry["suppressed_references"]) == len(erased["identifiers"])
    with duckdb.connect(str(run.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from privacy.erasure_audit").fetchone()[0] == 1


def test_reloading_the_landing_day_does_not_bring_them_back(cli_env, erased):
    run = cli_env
    from orchestration.cli import main as siyu

    landed = "".join(
        p.read_bytes().decode("utf-8", errors="ignore")
        for p in run.landing_dir.glob(f"*/{LAST_DAY.isoformat()}/*")
    )
    assert tokens(landed) & erased["needles"], "the re-delivered day must still contain the person"
    assert siyu(["run", "--date", LAST_DAY.isoformat()]) == 0
    _assert_no_trace(run, erased["needles"])

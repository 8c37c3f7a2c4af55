"""Privacy on a real pipeline run (generator -> `siyu run` -> restricted export), once per module:
first the PII scan of everything published, then an erasure and a re-load of the erased person's
landing day. Tests run in file order: the scan sees the run before the erasure."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from tests.conftest import make_settings

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
    assert siyu(["generate", "--persons", str(PERSONS), "--days", str(DAYS), "--start",
                 START.isoformat(), "--seed", "3", "--out", str(data / "landing"), "--no-progress"]) == 0
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
    result = dg.materialize(assets, partition_key=day.isoformat(), resources={
        "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
        "siyu": SiyuSettingsResource(**settings.as_strings())})
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
        cols = con.execute("select table_schema, table_name, column_name from information_schema.columns "
                           "where data_type = 'VARCHAR' and table_schema not in "
                           "('information_schema', 'pg_catalog')").fetchall()
        for schema, table, col in cols:
            values = con.execute(f'select distinct "{col}" from "{schema}"."{table}" '
                                 f'where "{col}" is not null').fetchall()
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
        published = {r[0] for r in con.execute("select table_name from information_schema.tables "
                                               "where table_schema = 'marts'").fetchall()}
        assert "next_best_actions" in published
        assert con.execute("select count(*) from marts.next_best_actions").fetchone()[0] > 0
    assert scan_duckdb(run.serving_path, needles) == {}
    for parquet in run.data_dir.rglob("*.parquet"):
        if "landing" not in parquet.parts:
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


LAST_DAY = START + dt.timedelta(days=DAYS - 1)


@pytest.fixture(scope="module")
def erased(run):
    """Erase one person, by phone in its raw form: a CRM member with activity in the last landing
    day (so re-running that day re-delivers them), in today's WeCom plan when possible."""
    from orchestration.erase_cli import main as erase

    with duckdb.connect(str(run.warehouse_path), read_only=True) as con:
        person_id, phone = con.execute("""
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
            limit 1""", {"day": LAST_DAY}).fetchall()[0]
        identifiers = con.execute("select id_type, id_value from intermediate.identity_map "
                                  "where person_id = ?", [person_id]).fetchall()
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
    _assert_no_trace(run, erased["needles"])
    # every older publication version is gone; the live one is the post-erasure version
    versions = [p for p in (run.serving_path.parent / "publications").iterdir()
                if p.is_dir() and p.name.startswith("v")]
    assert len(versions) == 1 and run.serving_path.resolve().parent == versions[0].resolve()


def test_erasure_is_audited_with_hashed_references(run, erased):
    lines = (run.data_dir / "privacy" / "erasure_audit.jsonl").read_text(encoding="utf-8").splitlines()
    entry = json.loads(lines[-1])
    assert entry["requested_by"] == "dpo@example.com" and entry["persons"] == 1
    assert entry["counts"]["marts.dim_users"] == 1 and entry["counts"]["raw.crm__members"] >= 1
    assert len(entry["suppressed_references"]) == len(erased["identifiers"])
    with duckdb.connect(str(run.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from privacy.erasure_audit").fetchone()[0] == 1


def test_reloading_the_landing_day_does_not_bring_them_back(cli_env, erased):
    run = cli_env
    from orchestration.cli import main as siyu

    landed = "".join(p.read_bytes().decode("utf-8", errors="ignore")
                     for p in run.landing_dir.glob(f"*/{LAST_DAY.isoformat()}/*"))
    assert tokens(landed) & erased["needles"], "the re-delivered day must still contain the person"
    assert siyu(["run", "--date", LAST_DAY.isoformat()]) == 0
    _assert_no_trace(run, erased["needles"])

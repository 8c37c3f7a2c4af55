"""`siyu erase` on the intraday path, for real (generated extracts, a daily run, live runs through
Dagster in-process, the CLI): after erasing one person by phone, no identifier of theirs, no
person_id and no baseline identity hash of theirs is left anywhere under the live folder (the live
database, the baselines, the live publication and its kept versions, the logs), neither in the
files' bytes nor in any decoded value; a re-sent copy of an already-landed file and the next
batch, both carrying the person's rows, do not bring them back on the next live run."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from datagen.generate import batch_names, generate
from datagen.landing import land_all_but_day, land_batch
from privacy.hashing import salted_hash
from tests.conftest import make_settings, run_daily, step_errors

pytestmark = pytest.mark.slow

START = dt.date(2026, 5, 1)
DAYS = 3
LIVE_DAY = START + dt.timedelta(days=DAYS - 1)
BATCHES = 2
SALT = "live-erasure-test-salt"


def _live_run(settings, instance):
    from orchestration.definitions import build_definitions
    from orchestration.defs.live import LIVE_JOB_NAME

    job = build_definitions(settings).resolve_job_def(LIVE_JOB_NAME)
    return job.execute_in_process(instance=instance, raise_on_error=False)


def _land(held: Path, landing: Path, batch: str) -> list[Path]:
    return land_batch(held, landing, LIVE_DAY, batch)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def byte_hits(root: Path, needles: set[str]) -> dict[str, set[str]]:
    """Needles found in the raw bytes of any file under `root`."""
    found = {}
    for path in _files(root):
        data = path.read_bytes()
        hits = {n for n in needles if n.encode() in data}
        if hits:
            found[str(path.relative_to(root))] = hits
    return found


def value_hits(root: Path, needles: set[str]) -> dict[str, set[str]]:
    """Needles inside any decoded text value of any DuckDB or Parquet file under `root` (their
    pages are compressed, so the byte scan alone would miss them)."""
    found: dict[str, set[str]] = {}
    for path in _files(root):
        if path.suffix == ".duckdb":
            with duckdb.connect(str(path), read_only=True) as con:
                cols = con.execute(
                    "select table_schema, table_name, column_name from information_schema.columns "
                    "where table_schema not in ('information_schema', 'pg_catalog')"
                ).fetchall()
                for schema, table, col in cols:
                    _hits(con, f'"{schema}"."{table}"', col, needles, found, f"{path}:{table}")
        elif path.suffix == ".parquet":
            with duckdb.connect() as con:
                con.execute("create table p as select * from read_parquet(?)", [str(path)])
                for (col,) in con.execute(
                    "select column_name from information_schema.columns where table_name = 'p'"
                ).fetchall():
                    _hits(con, "p", col, needles, found, str(path))
    return {k.removeprefix(str(root) + "/"): v for k, v in found.items()}


def _hits(con, relation: str, col: str, needles, found, where: str) -> None:
    values = con.execute(
        f'select distinct cast("{col}" as varchar) from {relation} where "{col}" is not null'
    ).fetchall()
    hits = {n for (v,) in values for n in needles if n in v}
    if hits:
        found.setdefault(f"{where}.{col}", set()).update(hits)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    root = tmp_path_factory.mktemp("live_erase")
    src = root / "generated"
    generate(
        persons=300, days=DAYS, start=START, seed=11, out=src, progress=False,
        workers=1, batches_per_day=BATCHES,
    )  # fmt: skip
    data = root / "data"
    (data / "landing").mkdir(parents=True)
    held = root / "held"
    land_all_but_day(src, data / "landing", held, LIVE_DAY)
    settings = make_settings(data, SIYU_HASH_SALT=SALT)
    instance = dg.DagsterInstance.ephemeral()
    result = run_daily(settings, START, LIVE_DAY - dt.timedelta(days=1), instance=instance)
    assert result.success, step_errors(result)
    first, second = batch_names(BATCHES)
    landed = _land(held, settings.landing_dir, first)
    live = _live_run(settings, instance)
    assert live.success, step_errors(live)
    return {"settings": settings, "instance": instance, "held": held, "landed": landed}


def _erased_person(settings, held: Path) -> tuple[str, str, set[str]]:
    """A person with a phone, inbound WeCom messages in the live rows already loaded and in the
    held second batch: their person_id, phone and every identifier value of theirs."""
    second = batch_names(BATCHES)[1]
    later = "".join(
        p.read_text(encoding="utf-8")
        for p in (held / "wecom" / LIVE_DAY.isoformat()).glob(f"messages_{second}.*")
    )
    with duckdb.connect(str(settings.live_dir / "live.duckdb"), read_only=True) as live:
        senders = {
            r[0]
            for r in live.execute(
                "select distinct trim(from_userid) from raw.wecom__messages "
                "where from_userid like 'wm%'"
            ).fetchall()
        }
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.execute(
            "select m.person_id, m.id_value, p.id_value from intermediate.identity_map m "
            "join intermediate.identity_map p on p.person_id = m.person_id and p.id_type = 'phone' "
            "where m.id_type = 'external_userid' and m.person_id is not null "
            "order by m.person_id"
        ).fetchall()
        for person_id, external_userid, phone in rows:
            if external_userid in senders and external_userid in later:
                ids = con.execute(
                    "select id_type, id_value from intermediate.identity_map where person_id = ?",
                    [person_id],
                ).fetchall()
                return person_id, phone, {(t, v) for t, v in ids}
    raise AssertionError("no person with a phone has inbound messages in both live batches")


def test_erase_removes_the_person_from_the_live_folder_and_a_later_live_run(
    scenario, monkeypatch, capsys
):
    from orchestration.cli import main as siyu

    settings, instance, held = scenario["settings"], scenario["instance"], scenario["held"]
    live_dir = settings.live_dir
    person_id, phone, ids = _erased_person(settings, held)
    values = {v for _, v in ids if len(v) >= 6}
    hashes = {salted_hash(f"{t}:{v}", SALT) for t, v in ids}
    needles = values | {person_id}
    # before: the live folder holds the person (rows, the tags table, the baseline's hashes)
    before = value_hits(live_dir, needles | hashes)
    assert any(k.startswith("live.duckdb") for k in before), before
    assert any("user_tags_live" in k for k in before), before
    assert any("identity.parquet" in k for k in before), before
    assert byte_hits(live_dir, needles | hashes)  # the byte scan can see them (uncompressed)

    monkeypatch.setenv("SIYU_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SIYU_START_DATE", START.isoformat())
    monkeypatch.setenv("SIYU_HASH_SALT", SALT)
    capsys.readouterr()
    assert siyu(["erase", "--phone", phone, "--requested-by", "dpo@test"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["persons"] == 1

    assert value_hits(live_dir, needles | hashes) == {}
    assert byte_hits(live_dir, needles | hashes) == {}
    # the audit counts the live layers like the others (keys and counts only, no values)
    audit = (settings.data_dir / "privacy" / "erasure_audit.jsonl").read_text(encoding="utf-8")
    entry = json.loads(audit.splitlines()[-1])
    live_counts = {k: v for k, v in entry["counts"].items() if k.startswith("live/")}
    assert live_counts.get("live/live.duckdb:raw.wecom__messages", 0) > 0, live_counts
    assert live_counts.get("live/live.duckdb:marts.user_tags_live") == 1, live_counts
    assert any(k.endswith("/identity.parquet") and v > 0 for k, v in live_counts.items())
    assert entry["live"]["publication"]["republished"] is not None
    assert entry["live"]["publication"]["rows_removed"] == {"user_tags_live": 1}
    assert entry["live"]["database"]["rewritten"] is True
    assert not ({phone, person_id} & set(json.dumps(entry).split('"')))

    # a re-sent copy of an already-landed file (other bytes, another name) and the next batch,
    # both with the person's rows: the live loader drops them (suppression list)
    messages = next(p for p in scenario["landed"] if p.name.startswith("messages_"))
    lines = messages.read_text(encoding="utf-8").splitlines(keepends=True)
    resend = messages.with_name(messages.stem + "_resend" + messages.suffix)
    resend.write_text("".join(lines[:-1]), encoding="utf-8")
    assert any(v in resend.read_text(encoding="utf-8") for v in values)
    _land(held, settings.landing_dir, batch_names(BATCHES)[1])
    live = _live_run(settings, instance)
    assert live.success, step_errors(live)
    materialized = [
        e.step_materialization_data.materialization for e in live.get_asset_materialization_events()
    ]
    (loaded,) = [m for m in materialized if m.asset_key == dg.AssetKey(["live", "extracts"])]
    assert loaded.metadata["new_files"].value > 1  # the re-sent copy and the second batch
    assert value_hits(live_dir, needles | hashes) == {}
    assert byte_hits(live_dir, needles | hashes) == {}
    with duckdb.connect(str(live_dir / "serving_live.duckdb"), read_only=True) as con:
        tags = con.execute("select count(*) from marts.user_tags_live").fetchone()[0]
    assert tags > 0


def test_erase_without_a_live_folder(tmp_path, monkeypatch, capsys):
    """No live folder (the intraday path never ran): the erasure works and creates none."""
    from privacy.erasure import ErasureResult
    from privacy.live import erase_live

    result = ErasureResult("e1", ["p_1"], [("phone", "13800138000")])
    assert erase_live(tmp_path / "live", result, SALT) == ({}, {"present": False})
    assert not (tmp_path / "live").exists()

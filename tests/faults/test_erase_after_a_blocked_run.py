"""`siyu erase` after a blocked run: the build database holds marts that did not pass the audit
(a 2099 order, a negative amount). Erasure must publish the last good publication minus the
erased person, never those marts, and must keep (cleaned) the older versions rollback needs.

A small hand-made build database and the real `publish`; tests/privacy/test_pipeline_privacy.py
does the same on a real pipeline run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from publishing import list_versions, live_version, publish, record_blocked, rollback
from tests.publishing.conftest import pg_dsn  # noqa: F401  (the real PostgreSQL server fixture)

pytestmark = pytest.mark.fault("erasure")

SALT = "blocked-run-salt"
PERSONS = 50
ERASED = "person-000007"
ERASED_PHONE = "13800130007"
TABLES = ["dim_users", "fct_orders", "kpi_daily"]


def write_build_db(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema intermediate; create schema marts")
        con.execute(f"""create table intermediate.identity_map as
            select 'phone' as id_type, '1380013' || lpad(range::varchar, 4, '0') as id_value,
                   'person-' || lpad(range::varchar, 6, '0') as person_id from range({PERSONS})
            union all
            select 'openid', 'oOpenId' || lpad(range::varchar, 20, 'x'),
                   'person-' || lpad(range::varchar, 6, '0')
            from range({PERSONS})""")
        con.execute(f"""create table marts.dim_users as
            select 'person-' || lpad(range::varchar, 6, '0') as person_id,
                   'city_' || (range % 5) as city,
                   timestamp '2026-05-01 08:00:00' + to_minutes(range) as first_seen_at
            from range({PERSONS})""")
        con.execute(f"""create table marts.fct_orders as
            select 'o_' || range as order_id,
                   'person-' || lpad((range % {PERSONS})::varchar, 6, '0') as person_id,
                   (10 + range % 90)::decimal(18, 2) as amount,
                   timestamp '2026-05-02 10:00:00' + to_minutes(range) as ordered_at
            from range({3 * PERSONS})""")
        con.execute("""create table marts.kpi_daily as
            select date '2026-05-01' + range::int as kpi_date, 'orders' as kpi, range * 1.5 as value
            from range(5)""")


def frames(serving: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(serving), read_only=True) as con:
        out = {}
        for table in TABLES:
            frame = con.execute(f"select * exclude (publication_version) from marts.{table}").df()
            out[table] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return out


@pytest.fixture
def blocked(tmp_path, monkeypatch):
    """Two audited publications, then a blocked run's unaudited marts in the build database."""
    data = tmp_path / "data"
    data.mkdir()
    build = data / "warehouse.duckdb"
    write_build_db(build)
    paths = {"serving_path": data / "serving.duckdb", "published_dir": data / "published"}
    summary = {t: {"passed": True, "failed_expectations": 0} for t in TABLES}
    for run_id in ("run-1", "run-2"):
        publish(build, TABLES, run_id=run_id, check_summary=summary, **paths)
    live = live_version(paths["serving_path"])
    before = frames(paths["serving_path"])
    with duckdb.connect(str(build)) as con:  # what the audit refused
        con.execute(
            "insert into marts.fct_orders values ('o_2099', 'person-000001', -5.00, "
            "timestamp '2099-01-01 00:00:00'), ('o_2099_erased', ?, 9.00, "
            "timestamp '2099-01-01 00:00:00')",
            [ERASED],
        )
        con.execute(
            "update marts.dim_users set city = 'UNAUDITED' where person_id = 'person-000002'"
        )
        con.execute("update marts.kpi_daily set value = -1")
    record_blocked(
        data / "publications",
        run_id="run-3",
        check_summary={"fct_orders": {"passed": False, "reason": "ordered_at in 2099"}},
    )
    monkeypatch.setenv("SIYU_DATA_DIR", str(data))
    monkeypatch.setenv("SIYU_HASH_SALT", SALT)
    return {
        "data": data,
        "build": build,
        "paths": paths,
        "live": live,
        "before": before,
        "kept": [v["version"] for v in list_versions(serving_path=paths["serving_path"])],
    }


def _erase(capsys) -> dict:
    from orchestration.erase_cli import main as erase

    assert erase(["--phone", ERASED_PHONE, "--requested-by", "dpo@example.com"]) == 0
    return json.loads(capsys.readouterr().out)


def test_erase_publishes_the_last_good_publication_minus_the_person(blocked, capsys):
    printed = _erase(capsys)
    serving = blocked["paths"]["serving_path"]
    new = live_version(serving)
    after = frames(serving)
    # nothing the audit refused went out
    assert "UNAUDITED" not in set(after["dim_users"]["city"])
    assert not after["fct_orders"]["order_id"].str.contains("2099").any()
    assert (after["kpi_daily"]["value"] >= 0).all()
    # row for row the previous live publication minus the person
    for table, frame in blocked["before"].items():
        expected = frame
        if "person_id" in frame.columns:
            expected = frame[frame["person_id"] != ERASED].reset_index(drop=True)
        pd.testing.assert_frame_equal(after[table], expected, obj=table)
    assert len(after["dim_users"]) == PERSONS - 1 and len(after["fct_orders"]) == 3 * PERSONS - 3
    assert new not in blocked["kept"] and printed["republished"] == new
    assert printed["republished_from"] == blocked["live"]
    parquet = Path(os.path.realpath(blocked["paths"]["published_dir"]))
    assert parquet.parent.name == new
    pd.testing.assert_frame_equal(
        pd.read_parquet(parquet / "fct_orders.parquet")
        .drop(columns="publication_version")
        .sort_values("order_id")
        .reset_index(drop=True),
        after["fct_orders"].sort_values("order_id").reset_index(drop=True),
        check_dtype=False,
    )
    with duckdb.connect(str(serving), read_only=True) as con:
        summary = json.loads(
            con.execute("select check_summary from marts._publication").fetchall()[0][0]
        )
        run_id = con.execute("select run_id from marts._publication").fetchall()[0][0]
    assert run_id.startswith("erasure:")
    for table in TABLES:
        assert summary[table]["passed"] is True
        assert summary[table]["from_version"] == blocked["live"]
        assert summary[table]["audited_run"] == "run-2"
        assert "last audited publication" in summary[table]["note"]
        assert "minus the persons of erasure" in summary[table]["note"]


def test_erase_removes_the_person_from_the_build_database(blocked, capsys):
    _erase(capsys)
    with duckdb.connect(str(blocked["build"]), read_only=True) as con:
        for table in ("marts.dim_users", "marts.fct_orders", "intermediate.identity_map"):
            assert (
                con.execute(
                    f"select count(*) from {table} where person_id = ?", [ERASED]
                ).fetchall()[0][0]
                == 0
            ), table
        # the unaudited marts stay the build database's business: the next run rebuilds them
        assert (
            con.execute(
                "select count(*) from marts.fct_orders where order_id = 'o_2099'"
            ).fetchall()[0][0]
            == 1
        )


def test_erase_cleans_the_older_versions_and_the_audit_says_which(blocked, capsys):
    printed = _erase(capsys)
    serving = blocked["paths"]["serving_path"]
    kept = {v["version"]: v for v in list_versions(serving_path=serving)}
    assert set(blocked["kept"]) < set(kept)  # none deleted
    assert printed.get("versions_cleaned") == 2 and printed.get("versions_removed") == 0
    entry = json.loads(
        (blocked["data"] / "privacy" / "erasure_audit.jsonl")
        .read_text(encoding="utf-8")
        .splitlines()[-1]
    )
    publication = entry["publication"]
    assert publication["republished"] == live_version(serving)
    assert publication["rows_removed"] == {"dim_users": 1, "fct_orders": 3}
    for version in blocked["kept"]:
        assert publication["versions"][version] == {
            "action": "cleaned",
            "rows_removed": {"dim_users": 1, "fct_orders": 3},
        }
        folder = Path(kept[version]["path"])
        assert kept[version]["row_counts"]["dim_users"] == PERSONS - 1
        assert kept[version]["erasures"][-1]["erasure_id"] == entry["erasure_id"]
        for table in TABLES:
            published = pd.read_parquet(folder / "parquet" / f"{table}.parquet")
            assert ERASED not in set(published.get("person_id", []))
            assert len(published) == kept[version]["row_counts"][table]
        with duckdb.connect(str(folder / "serving.duckdb"), read_only=True) as con:
            assert (
                con.execute(
                    "select count(*) from marts.fct_orders where person_id = ?", [ERASED]
                ).fetchall()[0][0]
                == 0
            )
            counts = json.loads(
                con.execute("select row_counts from marts._publication").fetchall()[0][0]
            )
        assert counts == kept[version]["row_counts"]
        assert ERASED.encode() not in (folder / "serving.duckdb").read_bytes()
        assert os.stat(folder / "serving.duckdb").st_mode & 0o777 == 0o444
    # rolling back to the first audited version still works, without the person
    rollback(blocked["kept"][0], **blocked["paths"])
    rolled = frames(serving)
    assert ERASED not in set(rolled["dim_users"]["person_id"])
    assert len(rolled["fct_orders"]) == 3 * PERSONS - 3


def test_a_version_that_cannot_be_cleaned_is_removed_and_logged(blocked, capsys):
    versions_dir = blocked["data"] / "publications"
    broken, intact = blocked["kept"]
    (versions_dir / broken / "manifest.json").unlink()
    leftover = versions_dir / ".staging-v000009-20990101T000000Z"
    leftover.mkdir()
    (leftover / "serving.duckdb").write_bytes(ERASED_PHONE.encode())
    printed = _erase(capsys)  # the publication clears the half-built leftover itself
    assert printed.get("versions_removed") == 1 and printed.get("versions_cleaned") == 1
    assert not (versions_dir / broken).exists() and not leftover.exists()
    entry = json.loads(
        (blocked["data"] / "privacy" / "erasure_audit.jsonl")
        .read_text(encoding="utf-8")
        .splitlines()[-1]
    )
    versions = entry["publication"]["versions"]
    assert (
        versions[broken]["action"] == "removed"
        and "could not be cleaned" in versions[broken]["reason"]
    )
    assert versions[intact]["action"] == "cleaned"


def test_an_erasure_with_nothing_published_for_the_person_makes_no_version(blocked, capsys):
    _erase(capsys)
    versions = [v["version"] for v in list_versions(serving_path=blocked["paths"]["serving_path"])]
    leftover = blocked["data"] / "publications" / ".staging-v000009-20990101T000000Z"
    leftover.mkdir()  # a crashed publisher's half-built version
    printed = _erase(capsys)  # the same request again: nothing left to remove
    assert printed["republished"] is None
    assert [
        v["version"] for v in list_versions(serving_path=blocked["paths"]["serving_path"])
    ] == versions
    assert not leftover.exists()
    entry = json.loads(
        (blocked["data"] / "privacy" / "erasure_audit.jsonl")
        .read_text(encoding="utf-8")
        .splitlines()[-1]
    )
    assert entry["publication"]["versions"][leftover.name]["action"] == "removed"
    assert {
        v["action"] for k, v in entry["publication"]["versions"].items() if k != leftover.name
    } == {"unchanged"}


def test_erase_republishes_to_postgresql_without_the_person(blocked, capsys, monkeypatch, pg_dsn):  # noqa: F811 - the fixture imported above
    import psycopg

    # the audited marts published to PostgreSQL too (from the live file: the build database
    # now holds the blocked run's marts)
    publish(
        blocked["paths"]["serving_path"].resolve(),
        TABLES,
        run_id="run-2-pg",
        check_summary={t: {"passed": True} for t in TABLES},
        pg_dsn=pg_dsn,
        **blocked["paths"],
    )
    monkeypatch.setenv("SIYU_PG_DSN", pg_dsn)
    printed = _erase(capsys)
    with psycopg.connect(pg_dsn) as conn:
        version = conn.execute("select version from marts._publication").fetchone()[0]
        persons = {r[0] for r in conn.execute("select person_id from marts.dim_users")}
        cities = {r[0] for r in conn.execute("select city from marts.dim_users")}
        orders = conn.execute("select count(*) from marts.fct_orders").fetchone()[0]
    assert version == printed["republished"] == live_version(blocked["paths"]["serving_path"])
    assert ERASED not in persons and len(persons) == PERSONS - 1
    assert "UNAUDITED" not in cities and orders == 3 * PERSONS - 3

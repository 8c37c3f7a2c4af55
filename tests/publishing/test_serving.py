"""Publishing to the serving DuckDB file and Parquet: content, versions, failures, rollback."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from publishing import (
    PublishError,
    list_versions,
    live_parquet_dir,
    live_version,
    publish,
    read_log,
    record_blocked,
    rollback,
)
from publishing.serving import VERSION_RE
from tests.publishing.conftest import write_build_db

CHECKS_OK = {"dq_orders_unique": {"passed": True}, "dq_users_not_null": {"passed": True}}


def do_publish(paths, tables=("a", "b"), **kwargs):
    kwargs.setdefault("run_id", "run-1")
    kwargs.setdefault("check_summary", CHECKS_OK)
    return publish(
        paths["build"],
        list(tables),
        serving_path=paths["serving_path"],
        published_dir=paths["published_dir"],
        **kwargs,
    )


def live_fingerprint(paths) -> dict[str, str]:
    """Bytes of every live file and where each live path points."""
    out = {}
    for link in (paths["serving_path"], paths["published_dir"]):
        out[f"link:{link.name}"] = os.readlink(link) if link.is_symlink() else "-"
    out["serving"] = hashlib.sha256(paths["serving_path"].read_bytes()).hexdigest()
    for f in sorted(paths["published_dir"].iterdir()):
        out[f.name] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def read_serving(paths, sql: str):
    con = duckdb.connect(str(paths["serving_path"]), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_publish_writes_versioned_duckdb_and_parquet(paths):
    write_build_db(paths["build"], generation=1)
    pub = do_publish(paths)

    assert VERSION_RE.match(pub.version) and pub.version.startswith("v000001-")
    assert pub.row_counts == {"a": 2_001, "b": 4_001}
    assert live_version(paths["serving_path"]) == pub.version
    assert paths["serving_path"].is_symlink() and paths["published_dir"].is_symlink()
    assert not os.readlink(paths["serving_path"]).startswith("/"), "relative link: movable data"
    # every table carries the version; _publication describes the publication
    versions = read_serving(
        paths,
        "select distinct publication_version from marts.a union "
        "select distinct publication_version from marts.b",
    )
    assert versions == [(pub.version,)]
    ((version, run_id, counts, checks, pv),) = read_serving(
        paths,
        "select version, run_id, row_counts, check_summary, publication_version "
        "from marts._publication",
    )
    assert (version, run_id, pv) == (pub.version, "run-1", pub.version)
    assert json.loads(counts) == {"a": 2_001, "b": 4_001}
    assert json.loads(checks) == CHECKS_OK
    # same data as Parquet, one file per table, in the live folder
    assert sorted(p.name for p in paths["published_dir"].iterdir()) == [
        "_publication.parquet",
        "a.parquet",
        "b.parquet",
    ]
    table = pq.read_table(paths["published_dir"] / "b.parquet")
    assert table.num_rows == 4_001
    assert set(table.column("publication_version").to_pylist()) == {pub.version}
    assert table.column_names == [
        "order_id",
        "person_id",
        "generation",
        "amount_cny",
        "order_date",
        "publication_version",
    ]
    # no write-ahead log anywhere, files sealed read-only
    assert not list(paths["versions_dir"].rglob("*.wal"))
    assert not Path(str(paths["serving_path"]) + ".wal").exists()
    assert (pub.duckdb_path.stat().st_mode & 0o222) == 0
    (entry,) = read_log(paths["versions_dir"], event="published")
    assert entry["version"] == pub.version and entry["row_counts"] == pub.row_counts
    assert entry["check_summary"] == CHECKS_OK and entry["run_id"] == "run-1"


def test_versions_increase_and_old_ones_are_pruned(paths):
    published = []
    for generation in range(1, 6):
        write_build_db(paths["build"], generation=generation, rows=100)
        published.append(do_publish(paths, keep_versions=2).version)

    assert published == sorted(published)
    assert [int(VERSION_RE.match(v).group(1)) for v in published] == [1, 2, 3, 4, 5]
    kept = [v["version"] for v in list_versions(serving_path=paths["serving_path"])]
    assert kept == published[-2:]
    assert read_serving(paths, "select max(generation) from marts.a") == [(5,)]


def test_rollback_restores_an_earlier_version(paths):
    pubs = []
    for generation in (1, 2, 3):
        write_build_db(paths["build"], generation=generation, rows=100)
        pubs.append(do_publish(paths, run_id=f"run-{generation}"))
    before = {p.name: p.read_bytes() for p in live_parquet_dir(paths["published_dir"]).iterdir()}

    restored = rollback(
        pubs[0].version,
        serving_path=paths["serving_path"],
        published_dir=paths["published_dir"],
        run_id="ops",
    )

    assert restored.version == pubs[0].version and restored.run_id == "run-1"
    assert live_version(paths["serving_path"]) == pubs[0].version
    assert read_serving(paths, "select distinct publication_version, generation from marts.b") == [
        (pubs[0].version, 1)
    ]
    assert read_serving(paths, "select version from marts._publication") == [(pubs[0].version,)]
    parquet = pq.read_table(paths["published_dir"] / "a.parquet")
    assert set(parquet.column("generation").to_pylist()) == {1}
    assert before != {p.name: p.read_bytes() for p in paths["published_dir"].iterdir()}
    (entry,) = read_log(paths["versions_dir"], event="rolled_back")
    assert entry["version"] == pubs[0].version and entry["from_version"] == pubs[2].version

    # the next publish numbers above every version, and the rolled-back-to one is not pruned
    write_build_db(paths["build"], generation=4, rows=100)
    nxt = do_publish(paths, keep_versions=1)
    assert nxt.version.startswith("v000004-")
    kept = {v["version"] for v in list_versions(serving_path=paths["serving_path"])}
    assert kept == {nxt.version}

    with pytest.raises(PublishError, match="not kept"):
        rollback(
            pubs[0].version,
            serving_path=paths["serving_path"],
            published_dir=paths["published_dir"],
        )


def test_rollback_keeps_the_live_version_when_pruning(paths):
    pubs = []
    for generation in (1, 2):
        write_build_db(paths["build"], generation=generation, rows=50)
        pubs.append(do_publish(paths))
    rollback(
        pubs[0].version, serving_path=paths["serving_path"], published_dir=paths["published_dir"]
    )
    # a publish with keep_versions=1 that then fails must not delete the live (rolled back) one
    with pytest.raises(PublishError):
        do_publish(paths, tables=["a", "missing"], keep_versions=1)
    assert live_version(paths["serving_path"]) == pubs[0].version
    assert read_serving(paths, "select count(*) from marts.a") == [(51,)]


def test_failed_publish_leaves_live_files_byte_identical(paths):
    write_build_db(paths["build"], generation=1)
    good = do_publish(paths)
    before = live_fingerprint(paths)
    write_build_db(paths["build"], generation=2)

    with pytest.raises(PublishError, match=r"marts\.no_such_table not found"):
        do_publish(paths, tables=["a", "b", "no_such_table"], run_id="run-2")

    assert live_fingerprint(paths) == before
    assert live_version(paths["serving_path"]) == good.version
    assert [v["version"] for v in list_versions(serving_path=paths["serving_path"])] == [
        good.version
    ]
    assert not [p for p in paths["versions_dir"].iterdir() if p.name.startswith(".staging")]
    (failed,) = read_log(paths["versions_dir"], event="failed")
    assert failed["run_id"] == "run-2" and "no_such_table" in failed["error"]
    assert failed["live_version"] == good.version


def test_failure_while_writing_parquet_leaves_live_files_byte_identical(paths, monkeypatch):
    write_build_db(paths["build"], generation=1)
    do_publish(paths)
    before = live_fingerprint(paths)
    import publishing.serving as serving

    def broken_manifest(*args, **kwargs):
        raise OSError("disk full (injected)")

    monkeypatch.setattr(serving, "_write_manifest", broken_manifest)
    with pytest.raises(OSError, match="injected"):
        do_publish(paths)
    assert live_fingerprint(paths) == before


def test_blocked_run_is_logged_with_failed_checks_and_changes_nothing(paths):
    write_build_db(paths["build"], generation=1)
    do_publish(paths)
    before = live_fingerprint(paths)
    summary = {
        "dq_orders_unique": {"passed": False, "failures": 3},
        "dq_users_not_null": {"passed": True},
    }

    entry = record_blocked(paths["versions_dir"], run_id="run-9", check_summary=summary)

    assert entry["failed_checks"] == ["dq_orders_unique"]
    assert live_fingerprint(paths) == before
    assert read_log(paths["versions_dir"], event="blocked")[0]["run_id"] == "run-9"


def test_exclude_columns_and_transform_mask_columns(paths):
    write_build_db(paths["build"], generation=1, rows=10)

    def transform(table, relation):
        return (
            f"select * replace (person_id * 0 as person_id) from ({relation})"
            if table == "b"
            else relation
        )

    do_publish(paths, exclude_columns={"a": ["phone_hash"]}, transform=transform)
    cols = [
        r[0]
        for r in read_serving(
            paths,
            "select column_name from duckdb_columns() where table_name = 'a' order by column_index",
        )
    ]
    assert cols == ["person_id", "generation", "first_seen_at", "publication_version"]
    assert read_serving(paths, "select max(person_id) from marts.b") == [(0,)]
    with pytest.raises(PublishError, match="does not have"):
        do_publish(paths, exclude_columns={"a": ["nope"]})


def test_stale_wal_beside_serving_path_refuses_to_publish(paths):
    write_build_db(paths["build"], generation=1, rows=10)
    do_publish(paths)
    Path(str(paths["serving_path"]) + ".wal").write_bytes(b"junk")
    with pytest.raises(PublishError, match="read-only"):
        do_publish(paths)


def test_migrates_a_pre_existing_real_file_and_folder(paths):
    paths["published_dir"].mkdir()
    (paths["published_dir"] / "old.parquet").write_bytes(b"old")
    duckdb.connect(str(paths["serving_path"])).close()
    write_build_db(paths["build"], generation=1, rows=10)

    pub = do_publish(paths)

    assert live_version(paths["serving_path"]) == pub.version
    assert (paths["published_dir"] / "a.parquet").exists()
    aside = [
        p
        for p in paths["published_dir"].parent.iterdir()
        if re.match(r"published\.pre-publishing-", p.name)
    ]
    assert len(aside) == 1 and (aside[0] / "old.parquet").exists()


def test_cli_lists_and_rolls_back(paths, monkeypatch, capsys):
    from orchestration.cli import main as siyu

    pubs = []
    for generation in (1, 2):
        write_build_db(paths["build"], generation=generation, rows=10)
        pubs.append(do_publish(paths))
    monkeypatch.setenv("SIYU_DATA_DIR", str(paths["serving_path"].parent))

    monkeypatch.setenv("SIYU_SERVING_PATH", str(paths["serving_path"]))
    monkeypatch.setenv("SIYU_PUBLISHED_DIR", str(paths["published_dir"]))
    assert siyu(["publish", "--list"]) == 0
    listing = capsys.readouterr().out
    assert pubs[0].version in listing and f"{pubs[1].version}" in listing
    assert siyu(["publish", "--rollback", pubs[0].version]) == 0
    assert live_version(paths["serving_path"]) == pubs[0].version
    assert siyu(["publish", "--rollback", "v999999-20990101T000000Z"]) == 1
    assert "not kept" in capsys.readouterr().err


def test_blocked_attempt_shows_in_the_log_with_each_failed_check_and_its_reason(paths, capsys):
    from publishing.cli import main as publish_cli

    write_build_db(paths["build"], generation=1, rows=10)
    pub = do_publish(paths)
    # what the quality gate passes: every suite, the failed ones with a one-line reason
    summary = {
        "dim_users": {
            "passed": False,
            "reason": "expect_column_values_to_not_be_null(person_id): 3 unexpected (0.15%)",
        },
        "fct_orders": {"passed": True},
        "kpi_daily": {"passed": False, "reason": "suite raised KeyError:\n'as_of'"},
        "user_rfm": {"passed": False, "failed_expectations": 2},
    }

    entry = record_blocked(paths["versions_dir"], run_id="run-blocked", check_summary=summary)

    assert entry["failed_checks"] == ["dim_users", "kpi_daily", "user_rfm"]
    assert entry["reasons"] == {
        "dim_users": "expect_column_values_to_not_be_null(person_id): 3 unexpected (0.15%)",
        "kpi_daily": "suite raised KeyError: 'as_of'",
        "user_rfm": "failed_expectations=2",
    }
    assert (
        publish_cli(
            ["--log"], serving_path=paths["serving_path"], published_dir=paths["published_dir"]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    assert "published" in lines[0] and pub.version in lines[0]
    assert "blocked" in lines[1] and "run=run-blocked" in lines[1] and "3 failed checks" in lines[1]
    assert lines[2:] == [
        "    dim_users: expect_column_values_to_not_be_null(person_id): 3 unexpected (0.15%)",
        "    kpi_daily: suite raised KeyError: 'as_of'",
        "    user_rfm: failed_expectations=2",
    ]
    assert (
        publish_cli(
            ["--log", "--json"],
            serving_path=paths["serving_path"],
            published_dir=paths["published_dir"],
        )
        == 0
    )
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["event"] for r in records] == ["published", "blocked"]
    assert records[1]["reasons"] == entry["reasons"]


def test_the_publication_s_connections_take_the_memory_limit(paths, tmp_path):
    """SIYU_DUCKDB_MEMORY_LIMIT reaches every connection the publication opens: a bad setting
    fails before anything goes live, a small limit with a spill folder publishes the same rows."""
    write_build_db(paths["build"], generation=1)
    good = do_publish(paths)
    before = live_fingerprint(paths)
    write_build_db(paths["build"], generation=2)
    with pytest.raises(duckdb.Error, match="Memory must have a number"):
        do_publish(paths, run_id="run-2", duckdb_config={"memory_limit": "lots"})
    assert live_fingerprint(paths) == before and live_version(paths["serving_path"]) == good.version
    spill = tmp_path / "spill"
    spill.mkdir()
    small = do_publish(
        paths, run_id="run-3", duckdb_config={"memory_limit": "64MB", "temp_directory": str(spill)}
    )
    assert small.row_counts == {"a": 2_002, "b": 4_002}  # generation 2 adds a row to each
    assert read_serving(paths, "select max(generation) from marts.b") == [(2,)]

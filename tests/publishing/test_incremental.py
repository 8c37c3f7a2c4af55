"""A publication costs what changed: unchanged tables and months are hard links to the live
version's files, the serving file is the live one updated, and every version stays whole on its
own (pruning, rollback, readers)."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from publishing import live_parquet_dir, live_version, publish, rollback
from publishing.serving import DEFAULT_PARTITION_BY

PARTITIONS = {"facts": "as_of_date"}


def write_build(path: Path, days: int, *, dims: int = 1, facts_rows_per_day: int = 300) -> None:
    """marts.facts: one row per person and as_of_date from 2026-01-01 for ``days`` days (three
    months and more at 100 days); marts.dims: small, changes only with ``dims``."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts")
        con.execute(f"""create or replace table marts.facts as
            select 'p' || p as person_id, date '2026-01-01' + d::int as as_of_date,
                   (p * 7 + d) % 90 as recency_days, ((p + d) % 1000 / 10.0)::decimal(18, 2)
                   as monetary
            from range({days}) t(d), range({facts_rows_per_day}) s(p)""")
        con.execute(f"""create or replace table marts.dims as
            select range as id, {dims} as generation from range(50)""")


def do_publish(paths, **kwargs):
    kwargs.setdefault("partition_by", PARTITIONS)
    return publish(
        paths["build"],
        kwargs.pop("tables", ["dims", "facts"]),
        serving_path=paths["serving_path"],
        published_dir=paths["published_dir"],
        run_id="run",
        check_summary={},
        **kwargs,
    )


def inode(path: Path) -> int:
    return path.stat().st_ino


def serving_rows(path: Path, sql: str):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def table_contents(path: Path) -> dict[str, object]:
    """Every table of a serving file without its version column, rows sorted, and its columns."""
    with duckdb.connect(str(path), read_only=True) as con:
        out = {}
        for (table,) in con.execute(
            "select table_name from duckdb_tables() where "
            "schema_name = 'marts' and table_name <> '_publication' "
            "order by 1"
        ).fetchall():
            out[table] = (
                con.execute(
                    f"select column_name, data_type from duckdb_columns() where "
                    f"table_name = '{table}' order by column_index"
                ).fetchall(),
                con.execute(
                    f"select * exclude (publication_version) from marts.{table} order by all"
                ).fetchall(),
            )
        return out


def test_unchanged_tables_are_hard_links_and_changed_ones_are_new(paths):
    write_build(paths["build"], days=40)
    first = do_publish(paths)
    write_build(paths["build"], days=41)  # one new day of facts; dims unchanged
    second = do_publish(paths)

    old, new = first.version_dir / "parquet", second.version_dir / "parquet"
    assert inode(new / "dims.parquet") == inode(old / "dims.parquet")
    assert inode(new / "facts.parquet") != inode(old / "facts.parquet")
    assert second.reuse["tables_reused"] == ["dims"]
    assert second.reuse["tables_rewritten"] == ["facts"]
    assert second.reuse["rows_rewritten"] == 300 * 10  # February so far, not the whole table
    assert second.reuse["serving_file"].endswith("changed rows replaced")
    assert second.parquet_files["dims.parquet"] == first.version
    assert second.parquet_files["facts.parquet"] == second.version
    # the serving file holds every row, each stamped with the live version
    assert serving_rows(
        second.serving_path,
        "select count(*), list(distinct publication_version) from marts.facts "
        "union all select count(*), list(distinct publication_version) "
        "from marts.dims",
    ) == [(41 * 300, [second.version]), (50, [second.version])]
    assert pq.read_table(new / "facts.parquet").num_rows == 41 * 300
    # a linked Parquet file says which version wrote it; _publication lists every file's writer
    dims = pq.read_table(new / "dims.parquet")
    assert set(dims.column("publication_version").to_pylist()) == {first.version}
    (files,) = serving_rows(second.serving_path, "select parquet_files from marts._publication")
    assert json.loads(files[0]) == second.parquet_files


def test_an_updated_serving_file_equals_a_full_rebuild(paths, tmp_path):
    write_build(paths["build"], days=60)
    do_publish(paths)
    write_build(paths["build"], days=75, dims=2)  # March grows, dims changes
    updated = do_publish(paths)
    assert updated.reuse["serving_file"].startswith("copy of")
    fresh = publish(
        paths["build"],
        ["dims", "facts"],
        serving_path=tmp_path / "s.duckdb",
        published_dir=tmp_path / "pub",
        run_id="run",
        check_summary={},
        partition_by=PARTITIONS,
    )
    assert fresh.reuse["serving_file"] == "rebuilt"
    assert table_contents(updated.duckdb_path) == table_contents(fresh.duckdb_path)
    # a month gone (March) is deleted from the updated file too
    write_build(paths["build"], days=59, dims=2)
    shrunk = do_publish(paths)
    assert shrunk.reuse["serving_file"].startswith("copy of")
    assert shrunk.reuse["tables_reused"] == ["dims"] and shrunk.reuse["rows_rewritten"] == 0
    assert serving_rows(
        shrunk.duckdb_path, "select count(*), max(as_of_date) from marts.facts"
    ) == [(59 * 300, datetime.date(2026, 2, 28))]


def test_unchanged_months_are_linked_and_changed_months_rewritten(paths):
    write_build(paths["build"], days=70)  # January, February, March to the 11th
    first = do_publish(paths, parquet_folders=True)
    write_build(paths["build"], days=71)
    second = do_publish(paths, parquet_folders=True)

    old, new = first.version_dir / "parquet" / "facts", second.version_dir / "parquet" / "facts"
    assert sorted(p.name for p in new.iterdir()) == [
        "month=2026-01",
        "month=2026-02",
        "month=2026-03",
    ]
    for month in ("month=2026-01", "month=2026-02"):
        assert inode(new / month / "part-0.parquet") == inode(old / month / "part-0.parquet")
    assert inode(new / "month=2026-03" / "part-0.parquet") != inode(
        old / "month=2026-03" / "part-0.parquet"
    )
    assert (second.reuse["months_linked"], second.reuse["months_rewritten"]) == (2, 1)
    assert second.paths["facts"] == second.version_dir / "parquet" / "facts"
    assert second.parquet_folders == ["facts"]
    # what a BI tool reads: the whole table, the month from the folder names
    folder = live_parquet_dir(paths["published_dir"])
    with duckdb.connect() as con:
        rows = con.execute(
            "select month, count(*) from read_parquet(?, hive_partitioning = true) "
            "group by month order by month",
            [str(folder / "facts" / "*" / "*.parquet")],
        ).fetchall()
    assert rows == [("2026-01", 31 * 300), ("2026-02", 28 * 300), ("2026-03", 12 * 300)]
    assert pq.read_table(folder / "facts").num_rows == 71 * 300
    assert (folder / "dims.parquet").exists()  # small tables stay one file
    # every file is sealed read-only, links included
    assert all((p.stat().st_mode & 0o222) == 0 for p in folder.rglob("*.parquet"))


def test_pruning_the_old_version_leaves_the_new_one_whole(paths):
    write_build(paths["build"], days=70)
    first = do_publish(paths, parquet_folders=True)
    write_build(paths["build"], days=71)
    second = do_publish(paths, parquet_folders=True, keep_versions=1)

    assert second.pruned == [first.version] and not first.version_dir.exists()
    folder = live_parquet_dir(paths["published_dir"])
    assert pq.read_table(folder / "facts").num_rows == 71 * 300
    assert pq.read_table(folder / "dims.parquet").num_rows == 50
    assert serving_rows(paths["serving_path"], "select count(*) from marts.facts") == [(71 * 300,)]
    # and the next version links to the files the pruned one wrote first
    write_build(paths["build"], days=72)
    third = do_publish(paths, parquet_folders=True)
    assert third.parquet_files["facts/month=2026-01/part-0.parquet"] == first.version
    assert pq.read_table(live_parquet_dir(paths["published_dir"]) / "facts").num_rows == 72 * 300


def test_rollback_then_publish_compares_with_the_rolled_back_version(paths):
    write_build(paths["build"], days=40)
    first = do_publish(paths, parquet_folders=True)
    write_build(paths["build"], days=41, dims=2)
    second = do_publish(paths, parquet_folders=True)

    rollback(
        first.version, serving_path=paths["serving_path"], published_dir=paths["published_dir"]
    )
    assert live_version(paths["serving_path"]) == first.version
    assert serving_rows(
        paths["serving_path"], "select count(*), max(generation) from marts.facts, marts.dims"
    ) == [(40 * 300 * 50, 1)]
    assert pq.read_table(live_parquet_dir(paths["published_dir"]) / "facts").num_rows == 40 * 300

    write_build(paths["build"], days=40, dims=3)  # facts as in the first version again
    third = do_publish(paths, parquet_folders=True)
    assert third.reuse["compared_with"] == first.version
    assert third.reuse["tables_reused"] == ["facts"]
    parquet = third.version_dir / "parquet" / "facts" / "month=2026-02" / "part-0.parquet"
    assert inode(parquet) == inode(
        first.version_dir / "parquet" / "facts" / "month=2026-02" / "part-0.parquet"
    )
    assert inode(parquet) != inode(
        second.version_dir / "parquet" / "facts" / "month=2026-02" / "part-0.parquet"
    )
    assert serving_rows(paths["serving_path"], "select max(generation) from marts.dims") == [(3,)]


def test_a_previous_version_whose_rows_changed_in_place_is_not_reused(paths):
    """A kept version cleaned in place (erasure) holds fewer rows than its fingerprint says:
    nothing of it is reused for the next publication."""
    write_build(paths["build"], days=40)
    first = do_publish(paths)
    manifest_path = first.version_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["row_counts"]["dims"] -= 1  # what privacy.publications writes after cleaning
    manifest_path.write_text(json.dumps(manifest))

    second = do_publish(paths)
    assert "dims" in second.reuse["tables_rewritten"]
    assert inode(second.version_dir / "parquet" / "dims.parquet") != inode(
        first.version_dir / "parquet" / "dims.parquet"
    )


def test_a_file_system_without_hard_links_gets_copies(paths, monkeypatch):
    write_build(paths["build"], days=40)
    first = do_publish(paths, parquet_folders=True)

    def no_links(src, dst, **kwargs):
        raise PermissionError(1, "Operation not permitted (injected)", str(dst))

    monkeypatch.setattr(os, "link", no_links)
    write_build(paths["build"], days=41)
    second = do_publish(paths, parquet_folders=True)
    new = second.version_dir / "parquet"
    assert inode(new / "dims.parquet") != inode(first.version_dir / "parquet" / "dims.parquet")
    assert (new / "dims.parquet").read_bytes() == (
        first.version_dir / "parquet" / "dims.parquet"
    ).read_bytes()
    assert (new / "dims.parquet").stat().st_mode & 0o222 == 0
    assert pq.read_table(new / "facts").num_rows == 41 * 300


def test_a_schema_change_rewrites_the_table(paths):
    write_build(paths["build"], days=40)
    do_publish(paths)
    with duckdb.connect(str(paths["build"])) as con:
        con.execute("alter table marts.dims add column note varchar default 'x'")
    second = do_publish(paths)
    assert second.reuse["tables_rewritten"] == ["dims"]
    assert second.columns["dims"] == ["id", "generation", "note", "publication_version"]


def test_the_default_partitions_are_the_big_facts_and_need_their_date_column(paths):
    assert DEFAULT_PARTITION_BY == {
        "user_rfm": "as_of_date",
        "fct_interactions": "occurred_date",
        "fct_orders": "ordered_date",
    }
    write_build(paths["build"], days=40)
    with duckdb.connect(str(paths["build"])) as con:
        con.execute("create table marts.user_rfm as select * from marts.facts")
        con.execute("create table marts.fct_orders as select 1 as order_id")  # no date column
    pub = publish(
        paths["build"],
        ["user_rfm", "fct_orders"],
        serving_path=paths["serving_path"],
        published_dir=paths["published_dir"],
        run_id="run",
        check_summary={},
        parquet_folders=True,
    )
    assert pub.parquet_folders == ["user_rfm"]
    assert (
        "months" in pub.fingerprints["user_rfm"] and "months" not in pub.fingerprints["fct_orders"]
    )


# Resolves the live Parquet folder once per read, reads _publication.parquet there, and checks
# every file it lists: the version that wrote it is the file's publication_version, and the rows
# of each table add up to _publication's row_counts.
PARQUET_FILES_READER = r"""
import json, os, sys, collections, pyarrow.parquet as pq
published, ready, stop = sys.argv[1:4]
reads, errors, versions = 0, [], set()
while not os.path.exists(stop):
    try:
        folder = os.path.realpath(published)
        pub = pq.read_table(os.path.join(folder, '_publication.parquet')).to_pylist()[0]
        files, counts = json.loads(pub['parquet_files']), json.loads(pub['row_counts'])
        rows = collections.Counter()
        for relative, writer in files.items():
            table = pq.read_table(os.path.join(folder, relative), columns=['publication_version'])
            if set(table.column('publication_version').to_pylist()) - {writer}:
                raise AssertionError(f'{relative} not written by {writer}')
            rows[relative.split('/')[0].removesuffix('.parquet')] += table.num_rows
        if dict(rows) != {**counts, '_publication': 1}:
            raise AssertionError(f'incomplete: {dict(rows)} != {counts}')
        versions.add(pub['version'])
        reads += 1
        if reads == 1:
            open(ready, 'w').close()
    except Exception as exc:
        errors.append(f'{type(exc).__name__}: {exc}')
print(json.dumps({'reads': reads, 'errors': errors[:5], 'n_errors': len(errors),
                  'versions': sorted(versions)}))
"""

SERVING_READER = r"""
import json, os, sys, duckdb
serving, ready, stop = sys.argv[1:4]
reads, errors, versions = 0, [], set()
while not os.path.exists(stop):
    try:
        with duckdb.connect(serving, read_only=True) as con:
            row = con.execute('''select (select list(distinct publication_version) from marts.facts),
                (select list(distinct publication_version) from marts.dims),
                (select list(version) from marts._publication),
                (select count(*) from marts.facts), (select count(*) from marts.dims),
                (select row_counts from marts._publication)''').fetchone()
        seen, counts = set(row[0]) | set(row[1]) | set(row[2]), json.loads(row[5])
        if len(seen) != 1 or (row[3], row[4]) != (counts['facts'], counts['dims']):
            raise AssertionError(f'mixed or incomplete: {row}')
        versions |= seen
        reads += 1
        if reads == 1:
            open(ready, 'w').close()
    except Exception as exc:
        errors.append(f'{type(exc).__name__}: {exc}')
print(json.dumps({'reads': reads, 'errors': errors[:5], 'n_errors': len(errors),
                  'versions': sorted(versions)}))
"""


def test_readers_see_complete_versions_made_of_linked_and_new_files(paths, tmp_path):
    write_build(paths["build"], days=60, facts_rows_per_day=1_000)
    do_publish(paths, parquet_folders=True)
    readers = []
    for name, script, live in (
        ("parquet", PARQUET_FILES_READER, paths["published_dir"]),
        ("serving", SERVING_READER, paths["serving_path"]),
    ):
        ready, stop = tmp_path / f"ready-{name}", tmp_path / f"stop-{name}"
        proc = subprocess.Popen(
            [sys.executable, "-c", script, str(live), str(ready), str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "reader never managed a first read"
            time.sleep(0.02)
        readers.append((proc, stop))

    versions = []
    for day in range(61, 67):  # each publish adds a day; dims change every other one
        write_build(paths["build"], days=day, dims=day // 2, facts_rows_per_day=1_000)
        versions.append(do_publish(paths, parquet_folders=True, keep_versions=2).version)
        time.sleep(0.05)
    rollback(versions[-2], serving_path=paths["serving_path"], published_dir=paths["published_dir"])
    time.sleep(0.2)

    for proc, stop in readers:
        stop.touch()
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        result = json.loads(out)
        assert result["n_errors"] == 0, result["errors"]
        assert result["reads"] >= 10
        assert len(set(result["versions"]) & set(versions)) >= 2, result["versions"]

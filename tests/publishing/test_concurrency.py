"""Readers in other processes while publications run: they are never blocked, never error, and
never see two publications at once (DuckDB file and Parquet folder)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from publishing import publish, rollback
from tests.publishing.conftest import write_build_db

pytestmark = pytest.mark.fault("concurrent readers")

# Opens the serving file read-only in a loop (a new connection per read, like a BI tool
# refreshing) and checks, in one statement, that both tables and _publication hold one version
# and that the row counts are the ones _publication states. Stops when the stop file appears.
DUCKDB_READER = r"""
import json, os, sys, duckdb
serving, ready, stop, mode = sys.argv[1:5]
reads, errors, versions, held = 0, [], set(), None
def check(con):
    row = con.execute('''
        select (select list(distinct publication_version) from marts.a),
               (select list(distinct publication_version) from marts.b),
               (select list(version) from marts._publication),
               (select count(*) from marts.a), (select count(*) from marts.b),
               (select row_counts from marts._publication)''').fetchone()
    seen = set(row[0]) | set(row[1]) | set(row[2])
    counts = json.loads(row[5])
    if len(seen) != 1 or (row[3], row[4]) != (counts['a'], counts['b']):
        raise AssertionError(f'mixed publication: {row}')
    return seen.pop()
while True:
    try:
        if mode == 'hold':  # one connection kept open across publishes: keeps its version
            held = held or duckdb.connect(serving, read_only=True)
            versions.add(check(held))
        else:
            con = duckdb.connect(serving, read_only=True)
            try:
                versions.add(check(con))
            finally:
                con.close()
        reads += 1
        if reads == 1:
            open(ready, 'w').close()
    except Exception as exc:
        errors.append(f'{type(exc).__name__}: {exc}')
    if os.path.exists(stop):
        break
print(json.dumps({'reads': reads, 'errors': errors[:5], 'n_errors': len(errors),
                  'versions': sorted(versions)}))
"""

# Resolves the live Parquet folder once per read (publishing.live_parquet_dir) and reads both
# tables from there.
PARQUET_READER = r"""
import json, os, sys, pyarrow.parquet as pq
published, ready, stop = sys.argv[1:4]
reads, errors, versions = 0, [], set()
while not os.path.exists(stop):
    try:
        folder = os.path.realpath(published)
        seen = set()
        for name in ('a', 'b', '_publication'):
            table = pq.read_table(os.path.join(folder, name + '.parquet'),
                                  columns=['publication_version'])
            seen |= set(table.column('publication_version').to_pylist())
        if len(seen) != 1:
            raise AssertionError(f'mixed publication: {seen}')
        versions |= seen
        reads += 1
        if reads == 1:
            open(ready, 'w').close()
    except Exception as exc:
        errors.append(f'{type(exc).__name__}: {exc}')
print(json.dumps({'reads': reads, 'errors': errors[:5], 'n_errors': len(errors),
                  'versions': sorted(versions)}))
"""

N_PUBLISHES = 6


def _start_reader(script: str, args: list[str], ready: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "reader never managed a first read"
        time.sleep(0.02)
    return proc


def _stop_reader(proc: subprocess.Popen, stop: Path) -> dict:
    stop.touch()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return json.loads(out)


def _publish_many(paths, rows: int) -> list[str]:
    """Publish N_PUBLISHES times from a build database that changes in between, plus one
    rollback, as fast as possible (the readers run all the while)."""
    versions = []
    for generation in range(2, 2 + N_PUBLISHES):
        write_build_db(paths["build"], generation=generation, rows=rows)
        pub = publish(
            paths["build"],
            ["a", "b"],
            serving_path=paths["serving_path"],
            published_dir=paths["published_dir"],
            run_id=f"run-{generation}",
            check_summary={},
            keep_versions=2,
        )
        versions.append(pub.version)
        time.sleep(0.05)
    rollback(versions[-2], serving_path=paths["serving_path"], published_dir=paths["published_dir"])
    time.sleep(0.2)
    return versions


def test_duckdb_readers_never_error_and_see_one_version(paths, tmp_path):
    write_build_db(paths["build"], generation=1, rows=20_000)
    first = publish(
        paths["build"],
        ["a", "b"],
        serving_path=paths["serving_path"],
        published_dir=paths["published_dir"],
        run_id="run-1",
        check_summary={},
    )
    readers = {}
    for mode in ("reopen", "hold"):
        ready, stop = tmp_path / f"ready-{mode}", tmp_path / f"stop-{mode}"
        readers[mode] = (
            _start_reader(
                DUCKDB_READER, [str(paths["serving_path"]), str(ready), str(stop), mode], ready
            ),
            stop,
        )

    versions = _publish_many(paths, rows=20_000)

    reopen = _stop_reader(*readers["reopen"])
    hold = _stop_reader(*readers["hold"])
    print("reopen reader:", reopen, "hold reader:", hold)
    assert reopen["n_errors"] == 0, reopen["errors"]
    assert reopen["reads"] >= 20
    # the re-opening reader followed the publications; it cannot miss most of them
    assert len(set(reopen["versions"]) & set(versions)) >= 2, reopen["versions"]
    # a reader that keeps its connection open keeps reading the version it opened, unharmed by
    # later publishes and by that version being pruned
    assert hold["n_errors"] == 0, hold["errors"]
    assert hold["versions"] == [first.version] and hold["reads"] >= 20


def test_parquet_readers_never_mix_publications(paths, tmp_path):
    write_build_db(paths["build"], generation=1, rows=20_000)
    publish(
        paths["build"],
        ["a", "b"],
        serving_path=paths["serving_path"],
        published_dir=paths["published_dir"],
        run_id="run-1",
        check_summary={},
    )
    ready, stop = tmp_path / "ready", tmp_path / "stop"
    proc = _start_reader(
        PARQUET_READER, [str(paths["published_dir"]), str(ready), str(stop)], ready
    )

    versions = _publish_many(paths, rows=20_000)

    result = _stop_reader(proc, stop)
    print("parquet reader:", result)
    assert result["n_errors"] == 0, result["errors"]
    assert result["reads"] >= 20
    assert len(set(result["versions"]) & set(versions)) >= 2, result["versions"]

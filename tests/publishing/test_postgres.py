"""Publishing to a real PostgreSQL server (started by the `pg_dsn` fixture): content and types,
the atomic schema swap under concurrent readers, rollback, and failures that change nothing."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from decimal import Decimal

import duckdb
import psycopg
import pytest

from publishing import publish, rollback
from publishing.postgres import pg_column_type, publish_to_postgres
from tests.publishing.conftest import fresh_login_role, write_build_db


def pg_rows(dsn: str, query: str):
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchall()


def pg_publish(paths, dsn, generation=None, tables=("a", "b"), **kwargs):
    if generation is not None:
        write_build_db(paths["build"], generation=generation, rows=kwargs.pop("rows", 1_000))
    return publish(
        paths["build"],
        list(tables),
        serving_path=paths["serving_path"],
        published_dir=paths["published_dir"],
        run_id=f"run-{generation}",
        check_summary={"dq": {"passed": True}},
        pg_dsn=dsn,
        **kwargs,
    )


def test_publish_loads_marts_into_postgres(paths, pg_dsn):
    pub = pg_publish(paths, pg_dsn, generation=1)

    assert pub.pg_schema == "marts"
    assert pg_rows(
        pg_dsn, "select count(*), min(publication_version), max(publication_version) from marts.b"
    ) == [(2_001, pub.version, pub.version)]
    ((version, run_id, counts, checks),) = pg_rows(
        pg_dsn, "select version, run_id, row_counts, check_summary from marts._publication"
    )
    assert (version, run_id) == (pub.version, "run-1")
    assert counts == {"a": 1_001, "b": 2_001} and checks == {"dq": {"passed": True}}
    types = dict(
        pg_rows(
            pg_dsn,
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'marts' and table_name = 'a'",
        )
    )
    assert types == {
        "person_id": "bigint",
        "generation": "integer",
        "phone_hash": "text",
        "first_seen_at": "timestamp with time zone",
        "publication_version": "text",
    }
    # values survive the trip (timestamptz as UTC instants)
    first = pg_rows(pg_dsn, "select first_seen_at from marts.a where person_id = 61")[0][0]
    assert first == dt.datetime(2026, 5, 1, 9, 1, tzinfo=dt.UTC)
    # only the live schema is left: no staging or previous schema lingers
    schemas = {
        r[0]
        for r in pg_rows(pg_dsn, "select nspname from pg_namespace where nspname like 'marts%'")
    }
    assert schemas == {"marts"}


def test_types_nulls_and_awkward_values_round_trip(tmp_path, pg_dsn):
    db = tmp_path / "serving.duckdb"
    con = duckdb.connect(str(db))
    con.execute("create schema marts")
    con.execute("""create table marts.odd as select * from (values
        (1, 'plain', 12.34::decimal(18,2), true, date '2026-05-01', [1, 2], {'k': 'v'},
         'a\\x00b'::blob, 1.5::double, interval 2 day),
        (2, '', null, null, null, null, null, null, 'nan'::double, null),
        (3, 'quote " comma , newline
end', -0.01::decimal(18,2), false, date '2026-12-31', [], {'k': null}, ''::blob,
         '-inf'::double, interval 90 minute),
        (4, null, 0::decimal(18,2), true, null, [null], null, null, null, null)
        ) t(id, s, amount_cny, is_member, order_date, tags, attrs, raw, score, wait)""")
    con.close()

    publish_to_postgres(pg_dsn, db, ["odd"], "v000001-20260101T000000Z", schema="odd_marts")

    rows = pg_rows(
        pg_dsn,
        "select id, s, amount_cny, is_member, order_date, tags, attrs, raw, "
        "score::text, wait from odd_marts.odd order by id",
    )
    assert rows[0] == (
        1,
        "plain",
        Decimal("12.34"),
        True,
        dt.date(2026, 5, 1),
        [1, 2],
        {"k": "v"},
        b"a\x00b",
        "1.5",
        dt.timedelta(days=2),
    )
    assert rows[1] == (2, "", None, None, None, None, None, None, "NaN", None)
    assert rows[2][1] == 'quote " comma , newline\nend' and rows[2][5] == []
    assert rows[2][7] == b"" and rows[2][8] == "-Infinity"
    assert rows[2][9] == dt.timedelta(minutes=90)
    assert rows[3][1] is None and rows[3][5] == [None]


def test_type_mapping():
    assert pg_column_type("DECIMAL(18,2)") == ("numeric(18,2)", "{col}")
    assert pg_column_type("VARCHAR[]")[0] == "jsonb"
    assert pg_column_type("STRUCT(a INTEGER)")[0] == "jsonb"
    assert pg_column_type("ENUM('x', 'y')") == ("text", "{col}::varchar")
    assert pg_column_type("TIMESTAMP_NS") == ("timestamp", "{col}::timestamp")


def test_failed_publish_leaves_postgres_unchanged(paths, pg_dsn):
    good = pg_publish(paths, pg_dsn, generation=1)
    with pytest.raises(Exception, match="no_such_table"):
        pg_publish(paths, pg_dsn, generation=2, tables=("a", "b", "no_such_table"))
    assert pg_rows(pg_dsn, "select distinct publication_version from marts.a") == [(good.version,)]

    # a failure inside PostgreSQL (a load error) leaves marts and the files on the old version
    import publishing.postgres as pgmod

    original = pgmod._load_table

    def failing_load(conn, duck, staging, table, work_dir):
        if table == "b":
            raise psycopg.errors.DiskFull("injected")
        return original(conn, duck, staging, table, work_dir)

    pgmod._load_table = failing_load
    try:
        with pytest.raises(psycopg.errors.DiskFull):
            pg_publish(paths, pg_dsn, generation=3)
    finally:
        pgmod._load_table = original
    assert pg_rows(pg_dsn, "select distinct publication_version from marts.b") == [(good.version,)]
    schemas = {
        r[0]
        for r in pg_rows(pg_dsn, "select nspname from pg_namespace where nspname like 'marts%'")
    }
    assert schemas == {"marts"}
    con = duckdb.connect(str(paths["serving_path"]), read_only=True)
    assert con.execute("select version from marts._publication").fetchall() == [(good.version,)]
    con.close()


def test_rollback_reloads_postgres(paths, pg_dsn):
    first = pg_publish(paths, pg_dsn, generation=1)
    pg_publish(paths, pg_dsn, generation=2)
    rollback(
        first.version,
        serving_path=paths["serving_path"],
        published_dir=paths["published_dir"],
        pg_dsn=pg_dsn,
    )
    assert pg_rows(pg_dsn, "select distinct publication_version, generation from marts.b") == [
        (first.version, 1)
    ]


# A BI-tool-like reader: autocommit statements that read both tables and _publication in one
# statement, and REPEATABLE READ transactions that read them in separate statements. Each must
# see exactly one version, and the row counts _publication states.
PG_READER = r"""
import json, os, sys, time, psycopg
dsn, ready, stop = sys.argv[1:4]
reads, errors, versions = 0, [], set()
one_statement = '''select (select array_agg(distinct publication_version) from marts.a),
    (select array_agg(distinct publication_version) from marts.b),
    (select array_agg(version) from marts._publication),
    (select count(*) from marts.a), (select count(*) from marts.b),
    (select row_counts from marts._publication)'''
def check(a, b, p, n_a, n_b, counts):
    seen = set(a) | set(b) | set(p)
    if len(seen) != 1 or (n_a, n_b) != (counts['a'], counts['b']):
        raise AssertionError(f'mixed publication: {seen} {n_a} {n_b} {counts}')
    versions.update(seen)
with psycopg.connect(dsn, autocommit=True) as conn:
    while not os.path.exists(stop):
        try:
            if reads % 2 == 0:
                check(*conn.execute(one_statement).fetchone())
            else:
                with conn.transaction():
                    conn.execute('set transaction isolation level repeatable read')
                    a = conn.execute('select array_agg(distinct publication_version), count(*) '
                                     'from marts.a').fetchone()
                    time.sleep(0.005)
                    b = conn.execute('select array_agg(distinct publication_version), count(*) '
                                     'from marts.b').fetchone()
                    p = conn.execute('select array_agg(version), min(row_counts::text) '
                                     'from marts._publication').fetchone()
                check(a[0], b[0], p[0], a[1], b[1], json.loads(p[1]))
            reads += 1
            if reads == 1:
                open(ready, 'w').close()
        except Exception as exc:
            errors.append(f'{type(exc).__name__}: {exc}')
            reads += 1
print(json.dumps({'reads': reads, 'errors': errors[:5], 'n_errors': len(errors),
                  'versions': sorted(versions)}))
"""


def test_postgres_swap_is_atomic_for_concurrent_readers(paths, pg_dsn, tmp_path):
    # the second reader is a read-only BI role: granted in the swap's transaction, it never
    # meets a `marts` it may not read
    role = fresh_login_role(pg_dsn, "bi_concurrent")
    pg_publish(paths, pg_dsn, generation=1, rows=5_000, pg_readers=[role])
    reader_dsns = [pg_dsn, pg_dsn.replace("postgresql://postgres@", f"postgresql://{role}@")]
    procs = []
    for i, reader_dsn in enumerate(reader_dsns):
        ready, stop = tmp_path / f"ready-{i}", tmp_path / f"stop-{i}"
        proc = subprocess.Popen(
            [sys.executable, "-c", PG_READER, reader_dsn, str(ready), str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "PostgreSQL reader never managed a first read"
            time.sleep(0.02)
        procs.append((proc, stop))

    versions, durations = [], []
    for generation in range(2, 8):
        pub = pg_publish(paths, pg_dsn, generation=generation, rows=5_000, pg_readers=[role])
        versions.append(pub.version)
        durations.append(pub.duration_seconds)

    results = []
    for proc, stop in procs:
        time.sleep(0.1)
        stop.touch()
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    print("publish seconds under load:", durations, "postgres readers:", results)
    for result in results:
        assert result["n_errors"] == 0, result["errors"]
        assert result["reads"] >= 20
        assert len(set(result["versions"]) & set(versions)) >= 2, result["versions"]

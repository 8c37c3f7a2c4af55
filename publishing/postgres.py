"""Load a published version into PostgreSQL schema ``marts`` for BI tools, swapped atomically.

1. Each table is created in a fresh schema ``marts_staging_<n>`` with column types mapped from
   DuckDB, filled with ``COPY ... FROM STDIN (FORMAT csv)`` from a CSV that DuckDB writes, and
   analysed. Readers never see this schema under the name ``marts``.
2. One transaction swaps: ``LOCK TABLE`` every table of the live ``marts`` in ACCESS EXCLUSIVE
   mode, ``ALTER SCHEMA marts RENAME TO marts_previous``, ``ALTER SCHEMA marts_staging_<n>
   RENAME TO marts``. Renaming a schema takes no table locks by itself, so without the LOCK a
   statement that resolved ``marts.a`` before the commit and ``marts.b`` after it would join two
   versions. With it, a reader either holds its table locks until its transaction ends (the swap
   waits) or waits for the swap and then re-resolves the names (PostgreSQL re-does the name
   lookup after a lock wait when the catalog changed), so every statement and every transaction
   sees one version.
3. The swap waits (at most ``lock_timeout_ms``, 100 ms) only for its first table lock, while it
   holds nothing, and takes the others NOWAIT; when one is busy it rolls back and retries, waiting
   on that table first, until ``swap_timeout_s``. So it never holds a lock while waiting for
   another (no deadlock with a reader, which could otherwise be the one aborted), readers queue
   behind it for at most 100 ms, and a long reader transaction delays the swap, not the reverse.
4. The same transaction grants the ``readers`` roles USAGE on the new ``marts`` and SELECT on
   every table in it: the schema is a new object on every publish and rollback, so grants made by
   hand on the old one are gone, and a reader role never sees a ``marts`` it may not read.
5. ``marts_previous`` is dropped afterwards (or by the next publish if readers still hold it).

Reader roles are checked before anything is created (a missing one is a one-line error), and
every error leaves this module with the DSN's password masked (``publishing.dsn``).
"""

from __future__ import annotations

import contextlib
import random
import re
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import psycopg
from psycopg import sql

from publishing.dsn import mask_secrets, redact_dsn
from publishing.serving import PublishError

__all__ = [
    "PostgresPublishError",
    "check_readers",
    "pg_column_type",
    "publish_to_postgres",
    "reader_roles",
]

T = TypeVar("T")

# PostgreSQL truncates longer identifiers, so a longer role name could grant a different role
_MAX_IDENTIFIER_BYTES = 63

_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")
_SIMPLE_TYPES = {
    "BOOLEAN": "boolean",
    "TINYINT": "smallint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "UTINYINT": "smallint",
    "USMALLINT": "integer",
    "UINTEGER": "bigint",
    "UBIGINT": "numeric(20,0)",
    "HUGEINT": "numeric(39,0)",
    "UHUGEINT": "numeric(39,0)",
    "FLOAT": "real",
    "DOUBLE": "double precision",
    "VARCHAR": "text",
    "DATE": "date",
    "TIME": "time",
    "TIME WITH TIME ZONE": "timetz",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_S": "timestamp",
    "TIMESTAMP_MS": "timestamp",
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "INTERVAL": "interval",
    "UUID": "uuid",
    "JSON": "jsonb",
    "BLOB": "bytea",
}


class PostgresPublishError(PublishError):
    """PostgreSQL could not be loaded or swapped; ``marts`` there is unchanged."""


def reader_roles(readers: Sequence[str]) -> tuple[str, ...]:
    """The reader role names, checked for what PostgreSQL could never accept (order kept,
    duplicates dropped). Names are used as quoted identifiers: case and spaces are kept."""
    if isinstance(readers, str):
        raise PostgresPublishError(
            f"PostgreSQL readers must be a list of role names, not a string ({readers!r}); "
            "split SIYU_PG_READERS on commas"
        )
    roles = tuple(dict.fromkeys(readers))
    bad = [
        r
        for r in roles
        if not isinstance(r, str)
        or not r.strip()
        or "\x00" in r
        or len(r.encode()) > _MAX_IDENTIFIER_BYTES
    ]
    if bad:
        raise PostgresPublishError(
            f"invalid PostgreSQL reader role name(s) {bad}: a role name is 1 to "
            f"{_MAX_IDENTIFIER_BYTES} bytes without NUL"
        )
    return roles


def _missing_roles_error(conn: psycopg.Connection, roles: Sequence[str]) -> str | None:
    existing = {
        r[0]
        for r in conn.execute(
            "select rolname from pg_roles where rolname = any(%s)", [list(roles)]
        ).fetchall()
    }
    missing = [r for r in roles if r not in existing]
    if not missing:
        return None
    folded = {
        r[0]
        for r in conn.execute(
            "select rolname from pg_roles where rolname = any(%s)", [[r.lower() for r in missing]]
        ).fetchall()
    }
    hints = [repr(r.lower()) for r in missing if r.lower() in folded]
    names = ", ".join(repr(r) for r in missing)
    return (
        (
            f"PostgreSQL reader role {names} does not exist: create it"
            if len(missing) == 1
            else f"PostgreSQL reader roles {names} do not exist: create them"
        )
        + " (CREATE ROLE ... LOGIN) or fix SIYU_PG_READERS; nothing was published"
        + (f" (role names are case-sensitive; did you mean {', '.join(hints)}?)" if hints else "")
    )


def _connect(dsn: str) -> psycopg.Connection:
    """An autocommit connection; a failure is one line naming the server, password masked."""
    try:
        return psycopg.connect(dsn, autocommit=True)
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())
    raise PostgresPublishError(
        mask_secrets(f"could not connect to PostgreSQL {redact_dsn(dsn)}: {reason}", dsn)
    )


def _chain_messages(exc: BaseException) -> list[str]:
    """The messages of ``exc`` and of every exception it was raised from or while handling."""
    messages, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        messages += traceback.format_exception_only(exc)
        exc = exc.__cause__ or exc.__context__
    return messages


def _without_password(dsn: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(*args, **kwargs)``; an error whose text (with its chain) shows the DSN's password is
    replaced by a ``PostgresPublishError`` with the password masked, raised outside the handler so
    the original is not attached as its context."""
    try:
        return call(*args, **kwargs)
    except Exception as exc:
        shown = "".join(_chain_messages(exc))
        if mask_secrets(shown, dsn) == shown:
            raise
        masked = PostgresPublishError(mask_secrets(f"{type(exc).__name__}: {exc}", dsn))
    raise masked


def check_readers(dsn: str, readers: Sequence[str]) -> tuple[str, ...]:
    """Raise ``PostgresPublishError`` (one line) unless every reader role exists on the server;
    return the role names. Changes nothing."""
    return _without_password(dsn, _check_readers, dsn, readers)


def _check_readers(dsn: str, readers: Sequence[str]) -> tuple[str, ...]:
    roles = reader_roles(readers)
    if roles:
        with _connect(dsn) as conn:
            error = _missing_roles_error(conn, roles)
        if error:
            raise PostgresPublishError(error)
    return roles


def pg_column_type(duckdb_type: str) -> tuple[str, str]:
    """The PostgreSQL type for a DuckDB type, and the DuckDB select expression (``{col}`` is the
    quoted column) whose CSV text PostgreSQL's ``COPY`` reads back as that type.

    Nested types (lists, structs, maps, unions) become ``jsonb``; enums, bit strings and anything
    unknown become ``text``.
    """
    t = duckdb_type.upper()
    if t in ("TIMESTAMP_NS", "TIMESTAMP_S", "TIMESTAMP_MS"):
        return "timestamp", "{col}::timestamp"
    if t == "BLOB":
        return "bytea", "'\\x' || hex({col})"
    if t in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[t], "{col}"
    match = _DECIMAL.match(t)
    if match:
        return f"numeric({match.group(1)},{match.group(2)})", "{col}"
    if t.endswith("]") or t.startswith(("STRUCT", "MAP", "UNION")):
        return "jsonb", "to_json({col})"
    return "text", "{col}::varchar"


def _duckdb_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "select column_name, data_type from duckdb_columns() where schema_name = 'marts' "
        "and table_name = ? order by column_index",
        [table],
    ).fetchall()


def _quote_duck(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _staging_name(schema: str, version: str) -> str:
    return f"{schema}_staging_{re.sub(r'[^a-z0-9]', '_', version.lower())}"[:63]


def _drop_schema(conn: psycopg.Connection, name: str, lock_timeout_ms: int, retries: int) -> bool:
    """Drop ``name`` if it exists; give up quietly after ``retries`` lock timeouts (a reader still
    holds one of its tables; the next publish drops it)."""
    for attempt in range(retries):
        try:
            with conn.transaction():
                conn.execute(
                    sql.SQL("set local lock_timeout = {}").format(
                        sql.Literal(f"{lock_timeout_ms}ms")
                    )
                )
                conn.execute(
                    sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(name))
                )
            return True
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected):
            time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
    return False


def _load_table(
    conn: psycopg.Connection,
    duck: duckdb.DuckDBPyConnection,
    staging: str,
    table: str,
    work_dir: Path,
) -> int:
    columns = _duckdb_columns(duck, table)
    if not columns:
        raise PostgresPublishError(f"table marts.{table} is missing from the published DuckDB file")
    pg_types = [pg_column_type(dtype) for _, dtype in columns]
    conn.execute(
        sql.SQL("create table {}.{} ({})").format(
            sql.Identifier(staging),
            sql.Identifier(table),
            sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(pg_type))
                for (name, _), (pg_type, _) in zip(columns, pg_types, strict=True)
            ),
        )
    )
    select_list = ", ".join(
        expr.format(col=_quote_duck(name))
        for (name, _), (_, expr) in zip(columns, pg_types, strict=True)
    )
    csv_path = work_dir / f"{table}.csv"
    duck.execute(
        f"copy (select {select_list} from marts.{_quote_duck(table)}) "
        f"to '{str(csv_path).replace(chr(39), chr(39) * 2)}' (format csv, header false)"
    )
    copy_sql = sql.SQL("copy {}.{} ({}) from stdin (format csv)").format(
        sql.Identifier(staging),
        sql.Identifier(table),
        sql.SQL(", ").join(sql.Identifier(name) for name, _ in columns),
    )
    with conn.cursor() as cur, cur.copy(copy_sql) as copy, open(csv_path, "rb") as f:
        while chunk := f.read(1 << 20):
            copy.write(chunk)
    csv_path.unlink()
    conn.execute(sql.SQL("analyze {}.{}").format(sql.Identifier(staging), sql.Identifier(table)))
    return duck.execute(f"select count(*) from marts.{_quote_duck(table)}").fetchone()[0]


def publish_to_postgres(
    dsn: str,
    duckdb_path: Path | str,
    tables: Sequence[str],
    version: str,
    *,
    schema: str = "marts",
    readers: Sequence[str] = (),
    lock_timeout_ms: int = 100,
    swap_timeout_s: float = 120.0,
) -> str:
    """Load ``tables`` from schema ``marts`` of the DuckDB file at ``duckdb_path`` into
    PostgreSQL schema ``schema`` (replacing it atomically) and return the schema name.

    ``readers``: roles granted USAGE on the schema and SELECT on its tables, in the swap's
    transaction (the schema is new on every publish, so grants must be repeated). A role that
    does not exist raises ``PostgresPublishError`` before anything is created. Raises
    ``PostgresPublishError`` if the swap could not get its locks within ``swap_timeout_s`` (a
    reader kept a transaction open on ``marts``); ``schema`` is then unchanged. No error carries
    the DSN's password.
    """
    return _without_password(
        dsn,
        _publish_to_postgres,
        dsn,
        duckdb_path,
        tables,
        version,
        schema=schema,
        readers=readers,
        lock_timeout_ms=lock_timeout_ms,
        swap_timeout_s=swap_timeout_s,
    )


def _publish_to_postgres(
    dsn: str,
    duckdb_path: Path | str,
    tables: Sequence[str],
    version: str,
    *,
    schema: str,
    readers: Sequence[str],
    lock_timeout_ms: int,
    swap_timeout_s: float,
) -> str:
    roles = reader_roles(readers)
    staging = _staging_name(schema, version)
    previous = f"{schema}_previous"
    with _connect(dsn) as conn:
        missing = _missing_roles_error(conn, roles) if roles else None
        if missing:
            raise PostgresPublishError(missing)
        stale = [
            r[0]
            for r in conn.execute(
                "select nspname from pg_namespace where nspname like %s",
                [schema.replace("_", r"\_") + r"\_staging\_%"],
            ).fetchall()
        ]
        for name in stale:
            _drop_schema(conn, name, lock_timeout_ms, retries=20)
        if not _drop_schema(conn, previous, lock_timeout_ms, retries=40):
            raise PostgresPublishError(
                f"could not drop leftover schema {previous}: a session keeps a transaction open "
                f"on it (see pg_stat_activity); end it and publish again"
            )
        conn.execute(sql.SQL("create schema {}").format(sql.Identifier(staging)))
        try:
            with (
                tempfile.TemporaryDirectory(prefix="siyu-pg-") as work,
                contextlib.closing(duckdb.connect(str(duckdb_path), read_only=True)) as duck,
            ):
                duck.execute("set TimeZone = 'UTC'")
                for table in tables:
                    with conn.transaction():
                        _load_table(conn, duck, staging, table, Path(work))
            _swap(conn, schema, staging, previous, roles, lock_timeout_ms, swap_timeout_s)
        except BaseException:
            with contextlib.suppress(Exception):
                _drop_schema(conn, staging, lock_timeout_ms, retries=5)
            raise
        _drop_schema(conn, previous, lock_timeout_ms, retries=20)
    return schema


def _swap(
    conn: psycopg.Connection,
    schema: str,
    staging: str,
    previous: str,
    readers: Sequence[str],
    lock_timeout_ms: int,
    swap_timeout_s: float,
) -> None:
    """Rename ``schema`` to ``previous`` and ``staging`` to ``schema`` and grant ``readers``
    read access to it, in one transaction, holding ACCESS EXCLUSIVE locks on every table of
    ``schema``.

    Deadlock-free towards readers: the swap waits (at most ``lock_timeout_ms``) only for its
    first lock, while it holds nothing; every other lock is taken NOWAIT. If one is busy, the
    transaction is rolled back (releasing what it held, so the reader holding it can finish)
    and the next attempt waits for that table first.
    """
    deadline = time.monotonic() + swap_timeout_s
    attempt, wait_first = 0, None
    while True:
        busy = None
        try:
            with conn.transaction():
                conn.execute(
                    sql.SQL("set local lock_timeout = {}").format(
                        sql.Literal(f"{lock_timeout_ms}ms")
                    )
                )
                live_tables = [
                    r[0]
                    for r in conn.execute(
                        "select c.relname from pg_class c "
                        "join pg_namespace n on n.oid = c.relnamespace "
                        "where n.nspname = %s and c.relkind in ('r', 'p', 'v', 'm') "
                        "order by c.relname",
                        [schema],
                    ).fetchall()
                ]
                if wait_first in live_tables:
                    live_tables.remove(wait_first)
                    live_tables.insert(0, wait_first)
                for i, table in enumerate(live_tables):
                    busy = table
                    conn.execute(
                        sql.SQL("lock table {} in access exclusive mode{}").format(
                            sql.Identifier(schema, table), sql.SQL("" if i == 0 else " nowait")
                        )
                    )
                busy = None
                exists = conn.execute(
                    "select 1 from pg_namespace where nspname = %s", [schema]
                ).fetchone()
                if exists:
                    conn.execute(
                        sql.SQL("alter schema {} rename to {}").format(
                            sql.Identifier(schema), sql.Identifier(previous)
                        )
                    )
                conn.execute(
                    sql.SQL("alter schema {} rename to {}").format(
                        sql.Identifier(staging), sql.Identifier(schema)
                    )
                )
                if readers:
                    roles = sql.SQL(", ").join(sql.Identifier(r) for r in readers)
                    conn.execute(
                        sql.SQL("grant usage on schema {} to {}").format(
                            sql.Identifier(schema), roles
                        )
                    )
                    conn.execute(
                        sql.SQL("grant select on all tables in schema {} to {}").format(
                            sql.Identifier(schema), roles
                        )
                    )
            return
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected) as exc:
            attempt += 1
            wait_first = busy
            if time.monotonic() > deadline:
                raise PostgresPublishError(
                    f"could not swap schema {schema} in {swap_timeout_s:.0f}s ({attempt} tries): "
                    f"sessions keep transactions open on it (see pg_stat_activity); last error: "
                    f"{exc}"
                ) from exc
            # a short, jittered pause so readers polling in lock-step cannot starve the swap
            time.sleep(random.uniform(0.001, 0.01))

"""Publish marts from the build database to the serving DuckDB file and Parquet, atomically.

Layout (defaults; ``versions_dir`` defaults to ``<serving_path's folder>/publications``)::

    data/serving.duckdb -> publications/v000012-20261122T060102Z/serving.duckdb   (symlink)
    data/published      -> publications/v000012-20261122T060102Z/parquet          (symlink)
    data/publications/v000012-20261122T060102Z/serving.duckdb      schema marts, read-only file
    data/publications/v000012-20261122T060102Z/parquet/<table>.parquet
    data/publications/v000012-20261122T060102Z/manifest.json
    data/publications/publication_log.jsonl                        see publishing.log

A version is built completely in ``publications/.staging-<version>/`` (DuckDB file checkpointed
and closed, so no ``.wal`` is left; Parquet written; everything fsynced), renamed to
``publications/<version>/``, and then made live by replacing each symlink with ``os.replace`` of a
new symlink created beside it: rename(2) is atomic, so a path always names one complete version.
A reader that opened the old file keeps its open file (POSIX), also after the old version is
pruned. See publishing/README.md for why readers are safe and what they must do for Parquet.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from publishing import log as publog
from publishing.dsn import mask_secrets, redact_dsn

__all__ = [
    "PUBLICATION_TABLE",
    "VERSION_COLUMN",
    "Publication",
    "PublishError",
    "list_versions",
    "live_parquet_dir",
    "live_version",
    "publish",
    "rollback",
]

VERSION_COLUMN = "publication_version"
PUBLICATION_TABLE = "_publication"
SERVING_SCHEMA = "marts"
SERVING_FILE = "serving.duckdb"
PARQUET_DIR = "parquet"
MANIFEST_FILE = "manifest.json"
LOCK_FILE = ".publish.lock"
STAGING_PREFIX = ".staging-"
VERSION_RE = re.compile(r"^v(\d{6})-(\d{8}T\d{6}Z)$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_READ_ONLY = 0o444

Transform = Callable[[str, str], str]


class PublishError(RuntimeError):
    """A publication or rollback could not be done; nothing live was changed."""


@dataclass(frozen=True)
class Publication:
    """One published version: where it lives and what it holds."""

    version: str
    published_at: datetime
    run_id: str | None
    version_dir: Path
    serving_path: Path  # the live path (symlink) BI tools open
    published_dir: Path  # the live Parquet folder (symlink)
    row_counts: dict[str, int]
    check_summary: dict[str, Any]
    columns: dict[str, list[str]] = field(default_factory=dict)
    duration_seconds: float | None = None
    pg_schema: str | None = None  # PostgreSQL schema loaded, None when no DSN was given
    pruned: list[str] = field(default_factory=list)

    @property
    def duckdb_path(self) -> Path:
        """The versioned DuckDB file (what ``serving_path`` points to while this is live)."""
        return self.version_dir / SERVING_FILE

    @property
    def paths(self) -> dict[str, Path]:
        """The versioned Parquet file of each table."""
        return {t: self.version_dir / PARQUET_DIR / f"{t}.parquet" for t in self.row_counts}

    def manifest(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "published_at": self.published_at.isoformat(),
            "run_id": self.run_id,
            "row_counts": self.row_counts,
            "columns": self.columns,
            "check_summary": self.check_summary,
        }


# -- paths and versions ---------------------------------------------------------------------------


def default_versions_dir(serving_path: Path | str) -> Path:
    return Path(serving_path).absolute().parent / "publications"


def _versions_dir(serving_path: Path | str, versions_dir: Path | str | None) -> Path:
    return Path(versions_dir).absolute() if versions_dir else default_versions_dir(serving_path)


def _version_of_link(link: Path) -> str | None:
    """The version a live symlink (``<version>/serving.duckdb`` or ``/parquet``) points to."""
    if not link.is_symlink():
        return None
    target = Path(os.readlink(link))
    name = target.parent.name
    return name if VERSION_RE.match(name) else None


def live_version(serving_path: Path | str) -> str | None:
    """The version ``serving_path`` currently points to, or None if nothing was published."""
    return _version_of_link(Path(serving_path).absolute())


def live_parquet_dir(published_dir: Path | str) -> Path:
    """The live Parquet folder resolved once: read every table of one publication from here."""
    return Path(os.path.realpath(published_dir))


def _version_dirs(versions_dir: Path) -> list[Path]:
    if not versions_dir.is_dir():
        return []
    found = [p for p in versions_dir.iterdir() if p.is_dir() and VERSION_RE.match(p.name)]
    return sorted(found, key=lambda p: p.name)


def _next_version(versions_dir: Path, now: datetime) -> str:
    """Sequence number one above any version seen on disk or in the log, plus the UTC time."""
    seqs = [0]
    names = [p.name.removeprefix(STAGING_PREFIX) for p in versions_dir.iterdir()]
    names += [str(r.get("version", "")) for r in publog.read_log(versions_dir)]
    for name in names:
        match = VERSION_RE.match(name)
        if match:
            seqs.append(int(match.group(1)))
    return f"v{max(seqs) + 1:06d}-{now.strftime('%Y%m%dT%H%M%SZ')}"


def list_versions(
    *,
    serving_path: Path | str,
    published_dir: Path | str | None = None,
    versions_dir: Path | str | None = None,
) -> list[dict[str, Any]]:
    """Every kept version, oldest first: its manifest plus ``live`` (the serving file's version)
    and ``parquet_live`` (the Parquet folder's version)."""
    vdir = _versions_dir(serving_path, versions_dir)
    live = live_version(serving_path)
    parquet_live = _version_of_link(Path(published_dir).absolute()) if published_dir else None
    versions = []
    for path in _version_dirs(vdir):
        manifest_path = path / MANIFEST_FILE
        if not manifest_path.exists():
            continue
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        manifest["live"] = path.name == live
        manifest["parquet_live"] = path.name == parquet_live
        manifest["path"] = str(path)
        versions.append(manifest)
    return versions


# -- file system helpers --------------------------------------------------------------------------


@contextlib.contextmanager
def _publish_lock(versions_dir: Path) -> Iterator[None]:
    """One publisher or rollback at a time (readers never take it)."""
    versions_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(versions_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _seal(path: Path) -> None:
    """fsync a file and make it read-only, so a stray write-mode open by a user fails."""
    _fsync_path(path)
    os.chmod(path, _READ_ONLY)


def _swap_symlink(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` atomically: a new symlink beside it, then rename(2) over it.

    The target is stored relative, so the data folder can be moved or mounted elsewhere.
    A real folder at ``link`` (from before publishing used symlinks) cannot be renamed over; it
    is moved aside to ``<link>.pre-publishing-<time>`` first (a one-time, non-atomic migration).
    """
    link.parent.mkdir(parents=True, exist_ok=True)
    relative = os.path.relpath(target, link.parent)
    temp = link.parent / f".{link.name}.swap-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()
    os.symlink(relative, temp)
    if link.is_dir() and not link.is_symlink():
        aside = link.with_name(f"{link.name}.pre-publishing-{time.strftime('%Y%m%dT%H%M%S')}")
        os.rename(link, aside)
    os.replace(temp, link)
    _fsync_path(link.parent)


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _check_no_stale_wal(serving_path: Path) -> None:
    wal = serving_path.with_name(serving_path.name + ".wal")
    if wal.exists():
        raise PublishError(
            f"{wal} exists: something opened {serving_path} in write mode. BI tools must open it "
            "read-only. Close that connection and delete the .wal file (published data is "
            "rebuilt from the build database on every publish), then publish again."
        )


# -- building a version ---------------------------------------------------------------------------


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _validate_tables(tables: Sequence[str]) -> list[str]:
    tables = list(tables)
    if not tables:
        raise PublishError("publish: no tables given")
    bad = [t for t in tables if not _IDENTIFIER.match(t) or t == PUBLICATION_TABLE]
    if bad:
        raise PublishError(f"publish: invalid table names {bad} (letters, digits, underscore; "
                           f"{PUBLICATION_TABLE!r} is reserved)")
    dupes = sorted({t for t in tables if tables.count(t) > 1})
    if dupes:
        raise PublishError(f"publish: tables listed twice: {dupes}")
    return tables


def _source_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    rows = con.execute(
        "select column_name from duckdb_columns() where database_name = 'build' "
        "and schema_name = ? and table_name = ? order by column_index",
        [schema, table],
    ).fetchall()
    return [r[0] for r in rows]


def _build_version(
    staging: Path,
    *,
    build_db_path: Path,
    tables: list[str],
    version: str,
    published_at: datetime,
    run_id: str | None,
    check_summary: Mapping[str, Any],
    source_schema: str,
    exclude_columns: Mapping[str, Sequence[str]],
    transform: Transform | None,
) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Write ``staging/serving.duckdb`` and ``staging/parquet/*.parquet``; return row counts and
    the published columns of each table."""
    (staging / PARQUET_DIR).mkdir(parents=True)
    db_path = staging / SERVING_FILE
    row_counts: dict[str, int] = {}
    columns: dict[str, list[str]] = {}
    con = duckdb.connect(str(db_path))
    try:
        con.execute(f"attach {_sql_string(str(build_db_path))} as build (read_only)")
        con.execute(f"create schema {SERVING_SCHEMA}")
        for table in tables:
            source_cols = _source_columns(con, source_schema, table)
            if not source_cols:
                available = sorted(r[0] for r in con.execute(
                    "select table_name from duckdb_tables() where database_name = 'build' and "
                    "schema_name = ? union select view_name from duckdb_views() where "
                    "database_name = 'build' and schema_name = ?", [source_schema, source_schema]
                ).fetchall())
                raise PublishError(
                    f"publish: table {source_schema}.{table} not found in {build_db_path} "
                    f"(schema {source_schema} has: {', '.join(available) or 'nothing'}); "
                    "nothing was published, the live version is unchanged"
                )
            excluded = set(exclude_columns.get(table, ())) | {VERSION_COLUMN}
            unknown = set(exclude_columns.get(table, ())) - set(source_cols)
            if unknown:
                raise PublishError(f"publish: exclude_columns[{table!r}] names columns that "
                                   f"{source_schema}.{table} does not have: {sorted(unknown)}")
            kept = [c for c in source_cols if c not in excluded]
            relation = (f"select {', '.join(_quote(c) for c in kept)} "
                        f"from build.{_quote(source_schema)}.{_quote(table)}")
            if transform is not None:
                relation = transform(table, relation)
            con.execute(
                f"create table {SERVING_SCHEMA}.{_quote(table)} as "
                f"select *, {_sql_string(version)} as {VERSION_COLUMN} from ({relation})"
            )
            row_counts[table] = con.execute(
                f"select count(*) from {SERVING_SCHEMA}.{_quote(table)}").fetchone()[0]
            columns[table] = [r[0] for r in con.execute(
                f"select * from {SERVING_SCHEMA}.{_quote(table)} limit 0").description]
        con.execute("detach build")
        con.execute(
            f"create table {SERVING_SCHEMA}.{PUBLICATION_TABLE} (version varchar, "
            "published_at timestamptz, run_id varchar, row_counts json, check_summary json, "
            f"{VERSION_COLUMN} varchar)"
        )
        con.execute(
            f"insert into {SERVING_SCHEMA}.{PUBLICATION_TABLE} values (?, ?, ?, ?, ?, ?)",
            [version, published_at, run_id, json.dumps(row_counts),
             json.dumps(dict(check_summary), default=str), version],
        )
        for table in [*tables, PUBLICATION_TABLE]:
            target = staging / PARQUET_DIR / f"{table}.parquet"
            con.execute(f"copy {SERVING_SCHEMA}.{_quote(table)} to {_sql_string(str(target))} "
                        "(format parquet, compression zstd)")
        con.execute("checkpoint")
    finally:
        con.close()
    wal = db_path.with_name(db_path.name + ".wal")
    if wal.exists():  # never expected after checkpoint + close; refuse rather than serve it
        raise PublishError(f"publish: {wal} remained after checkpoint; not publishing")
    _seal(db_path)
    for parquet in (staging / PARQUET_DIR).iterdir():
        _seal(parquet)
    _fsync_path(staging / PARQUET_DIR)
    return row_counts, columns


def _write_manifest(version_dir: Path, publication: Publication) -> None:
    path = version_dir / MANIFEST_FILE
    path.write_text(json.dumps(publication.manifest(), indent=2, default=str), encoding="utf-8")
    _fsync_path(path)
    _fsync_path(version_dir)


def _prune(versions_dir: Path, keep_versions: int, keep: set[str | None]) -> list[str]:
    """Delete versions beyond the ``keep_versions`` newest, never one in ``keep`` (the live ones).

    A reader that still has a pruned file open keeps reading it (the inode lives until closed).
    """
    dirs = _version_dirs(versions_dir)
    newest = {p.name for p in dirs[-keep_versions:]} if keep_versions > 0 else set()
    pruned = []
    for path in dirs:
        if path.name not in newest and path.name not in keep:
            _remove_tree(path)
            pruned.append(path.name)
    return pruned


def _clean_staging(versions_dir: Path) -> None:
    """Remove half-built versions left by a publisher that crashed (we hold the lock)."""
    for path in versions_dir.iterdir():
        if path.is_dir() and path.name.startswith(STAGING_PREFIX):
            _remove_tree(path)


def _postgres_log_fields(pg_dsn: str | None, pg_readers: Sequence[str]) -> dict[str, Any]:
    """Where a version went in PostgreSQL, for the log: the DSN without its password, the roles
    granted read access."""
    if not pg_dsn:
        return {}
    return {"postgres": redact_dsn(pg_dsn), "postgres_readers": list(dict.fromkeys(pg_readers))}


# -- public API -----------------------------------------------------------------------------------


def publish(
    build_db_path: Path | str,
    tables: Sequence[str],
    *,
    serving_path: Path | str,
    published_dir: Path | str,
    run_id: str | None,
    check_summary: Mapping[str, Any],
    versions_dir: Path | str | None = None,
    keep_versions: int = 5,
    source_schema: str = "marts",
    exclude_columns: Mapping[str, Sequence[str]] | None = None,
    transform: Transform | None = None,
    pg_dsn: str | None = None,
    pg_readers: Sequence[str] = (),
) -> Publication:
    """Publish ``tables`` of ``build_db_path`` (schema ``source_schema``) as a new version.

    Call only after every blocking check passed (this function does not run checks) and while no
    process writes the build database (it is opened read-only). Every table gets a
    ``publication_version`` column and ``marts._publication`` describes the version. The new
    version goes live at ``serving_path`` (DuckDB, schema ``marts``) and ``published_dir``
    (``<table>.parquet``) atomically; with ``pg_dsn`` it is first loaded into PostgreSQL schema
    ``marts`` (see ``publishing.postgres``), and the ``pg_readers`` roles get USAGE on it and
    SELECT on every table, in the transaction that swaps it in. A role that does not exist fails
    the publish before anything is built. Errors and log records never show the DSN's password.

    ``exclude_columns`` drops columns per table; ``transform(table, select_sql) -> select_sql``
    may rewrite a table's query (masking). ``keep_versions`` newest versions are kept besides
    the live one; older ones are deleted.

    On any error nothing live changes (files byte-identical, PostgreSQL untouched unless its swap
    already committed), the attempt is logged as ``failed`` and the error is raised.
    """
    started = time.monotonic()
    build_db_path = Path(build_db_path).absolute()
    serving_path = Path(serving_path).absolute()
    published_dir = Path(published_dir).absolute()
    vdir = _versions_dir(serving_path, versions_dir)
    tables = _validate_tables(tables)
    if not build_db_path.exists():
        raise PublishError(f"publish: build database {build_db_path} does not exist")
    if keep_versions < 1:
        raise PublishError("publish: keep_versions must be at least 1")

    with _publish_lock(vdir):
        _clean_staging(vdir)
        _check_no_stale_wal(serving_path)
        published_at = publog.utc_now().replace(microsecond=0)
        version = _next_version(vdir, published_at)
        staging = vdir / f"{STAGING_PREFIX}{version}"
        final = vdir / version
        pg_schema = None
        try:
            if pg_dsn:
                from publishing.postgres import check_readers

                # a missing role fails here, in a second, not after building the version
                check_readers(pg_dsn, pg_readers)
            row_counts, columns = _build_version(
                staging,
                build_db_path=build_db_path,
                tables=tables,
                version=version,
                published_at=published_at,
                run_id=run_id,
                check_summary=check_summary,
                source_schema=source_schema,
                exclude_columns=exclude_columns or {},
                transform=transform,
            )
            publication = Publication(
                version=version, published_at=published_at, run_id=run_id, version_dir=final,
                serving_path=serving_path, published_dir=published_dir, row_counts=row_counts,
                check_summary=dict(check_summary), columns=columns,
            )
            _write_manifest(staging, publication)
            if pg_dsn:
                from publishing.postgres import publish_to_postgres

                pg_schema = publish_to_postgres(
                    pg_dsn, staging / SERVING_FILE, [*tables, PUBLICATION_TABLE], version,
                    readers=pg_readers,
                )
            os.rename(staging, final)
            _fsync_path(vdir)
            # Parquet first, the DuckDB file last: serving_path is the version of record.
            _swap_symlink(published_dir, final / PARQUET_DIR)
            _swap_symlink(serving_path, final / SERVING_FILE)
        except BaseException as exc:
            _remove_tree(staging)
            if final.exists() and version not in {
                live_version(serving_path), _version_of_link(published_dir)
            }:
                _remove_tree(final)
            publog.append_log(vdir, {
                "event": publog.FAILED, "version": version, "run_id": run_id,
                "error": mask_secrets(f"{type(exc).__name__}: {exc}", pg_dsn),
                "live_version": live_version(serving_path),
                "pg_swapped": pg_schema is not None,
            })
            raise
        pruned = _prune(vdir, keep_versions, {version, live_version(serving_path),
                                              _version_of_link(published_dir)})
        duration = round(time.monotonic() - started, 3)
        publication = Publication(**{**publication.__dict__, "duration_seconds": duration,
                                     "pg_schema": pg_schema, "pruned": pruned})
        publog.append_log(vdir, {
            "event": publog.PUBLISHED, "version": version, "run_id": run_id,
            "published_at": published_at.isoformat(), "row_counts": row_counts,
            "check_summary": dict(check_summary), "duration_seconds": duration,
            "postgres_schema": pg_schema, **_postgres_log_fields(pg_dsn, pg_readers),
            "pruned": pruned,
        })
    return publication


def rollback(
    version: str,
    *,
    serving_path: Path | str,
    published_dir: Path | str,
    versions_dir: Path | str | None = None,
    run_id: str | None = None,
    pg_dsn: str | None = None,
    pg_readers: Sequence[str] = (),
) -> Publication:
    """Make a kept earlier (or later) version live again, atomically, like a publish.

    With ``pg_dsn`` the version is reloaded into PostgreSQL first, granting the ``pg_readers``
    roles read access as a publish does (the reloaded schema is a new object). Versions stay
    numbered as they were: the next publish gets a number above every version so far.
    """
    serving_path = Path(serving_path).absolute()
    published_dir = Path(published_dir).absolute()
    vdir = _versions_dir(serving_path, versions_dir)
    target = vdir / version
    with _publish_lock(vdir):
        manifest_path = target / MANIFEST_FILE
        if not VERSION_RE.match(version) or not manifest_path.exists():
            kept = [p.name for p in _version_dirs(vdir)]
            raise PublishError(f"rollback: version {version!r} is not kept under {vdir} "
                               f"(kept: {', '.join(kept) or 'none'})")
        _check_no_stale_wal(serving_path)
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        previous = live_version(serving_path)
        pg_schema = None
        if pg_dsn:
            from publishing.postgres import publish_to_postgres

            pg_schema = publish_to_postgres(
                pg_dsn, target / SERVING_FILE, [*manifest["row_counts"], PUBLICATION_TABLE],
                version, readers=pg_readers,
            )
        _swap_symlink(published_dir, target / PARQUET_DIR)
        _swap_symlink(serving_path, target / SERVING_FILE)
        publog.append_log(vdir, {
            "event": publog.ROLLED_BACK, "version": version, "from_version": previous,
            "run_id": run_id, "postgres_schema": pg_schema,
            **_postgres_log_fields(pg_dsn, pg_readers),
        })
    return Publication(
        version=version, published_at=datetime.fromisoformat(manifest["published_at"]),
        run_id=manifest.get("run_id"), version_dir=target, serving_path=serving_path,
        published_dir=published_dir, row_counts=manifest["row_counts"],
        check_summary=manifest.get("check_summary", {}), columns=manifest.get("columns", {}),
        pg_schema=pg_schema,
    )

"""Publish marts from the build database to the serving DuckDB file and Parquet, atomically.

Layout (defaults; ``versions_dir`` defaults to ``<serving_path's folder>/publications``)::

    data/serving.duckdb -> publications/v000012-20261122T060102Z/serving.duckdb   (symlink)
    data/published      -> publications/v000012-20261122T060102Z/parquet          (symlink)
    data/publications/v000012-20261122T060102Z/serving.duckdb      schema marts, read-only file
    data/publications/v000012-20261122T060102Z/parquet/<table>.parquet
    data/publications/v000012-20261122T060102Z/parquet/<table>/month=YYYY-MM/part-0.parquet
                                                        (only with parquet_folders=True)
    data/publications/v000012-20261122T060102Z/manifest.json
    data/publications/publication_log.jsonl                        see publishing.log

A version costs what changed since the live one. Each table's rows are fingerprinted in the build
database (count and order-independent hash aggregates, per month for the big facts); a table (or
month) whose fingerprint equals the live version's is not rewritten: its Parquet file is a hard
link to the live version's file (same inode, so pruning the old version never hurts the new one),
and the serving file is the live one's file copied (a reflink where the file system has them)
with only the changed tables and months replaced and ``publication_version`` restamped.

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

from data_quality.results import run_status
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
_FICLONE = 0x40049409  # ioctl: share the extents of another file (XFS, btrfs)
PARTITION_KEY = "month"
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"  # the month folder of rows whose date is null
# The big facts: change detection, the serving file's update and (with parquet_folders) the
# Parquet layout go by month of this date column. A table without the column is not partitioned.
DEFAULT_PARTITION_BY = {
    "user_rfm": "as_of_date",
    "fct_interactions": "occurred_date",
    "fct_orders": "ordered_date",
}
# what a fingerprint means depends on DuckDB's hash(): another DuckDB version rewrites everything
FINGERPRINT_FORMAT = f"count+sum+xor(hash(row))/duckdb-{duckdb.__version__}"
# the previous serving file is copied and updated unless more than this share of the rows
# changed, or more than this share of its blocks are free (then it is rebuilt, compacted)
MAX_REWRITE_SHARE = 0.5
MAX_FREE_SHARE = 0.5

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
    fingerprints: dict[str, Any] = field(default_factory=dict)
    fingerprint_format: str | None = None
    parquet_files: dict[str, str] = field(default_factory=dict)  # path -> version that wrote it
    parquet_folders: list[str] = field(default_factory=list)  # tables written as month folders
    reuse: dict[str, Any] = field(default_factory=dict)  # what was rewritten, linked, copied

    @property
    def duckdb_path(self) -> Path:
        """The versioned DuckDB file (what ``serving_path`` points to while this is live)."""
        return self.version_dir / SERVING_FILE

    @property
    def paths(self) -> dict[str, Path]:
        """The versioned Parquet file of each table (its folder for a month-folder table)."""
        return {
            t: self.version_dir / PARQUET_DIR / (t if t in self.parquet_folders else f"{t}.parquet")
            for t in self.row_counts
        }

    def manifest(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "published_at": self.published_at.isoformat(),
            "run_id": self.run_id,
            "row_counts": self.row_counts,
            "columns": self.columns,
            "check_summary": self.check_summary,
            "fingerprint_format": self.fingerprint_format,
            "fingerprints": self.fingerprints,
            "parquet_files": self.parquet_files,
            "parquet_folders": self.parquet_folders,
            "reuse": self.reuse,
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
        raise PublishError(
            f"publish: invalid table names {bad} (letters, digits, underscore; "
            f"{PUBLICATION_TABLE!r} is reserved)"
        )
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


def _month_sql(column: str) -> str:
    """The partition key of a row: its month as ``YYYY-MM`` (the hive default name for null)."""
    return f"coalesce(strftime({_quote(column)}, '%Y-%m'), {_sql_string(NULL_PARTITION)})"


@dataclass
class _TablePlan:
    """One table of a version: the query that produces it and its content fingerprint."""

    name: str
    relation: str  # select of the published columns (masking applied), without the version
    fingerprint: dict[str, Any]
    partition_column: str | None = None
    changed_months: list[str] = field(default_factory=list)  # partitioned: months to rewrite
    dropped_months: list[str] = field(default_factory=list)  # partitioned: months now gone
    reuse: bool = False  # unchanged since the previous version: nothing to rewrite
    partial: bool = False  # partitioned, same columns as before: only changed months rewritten

    @property
    def rows(self) -> int:
        return int(self.fingerprint["rows"])

    @property
    def months(self) -> dict[str, list[Any]]:
        return self.fingerprint.get("months", {})

    def rows_to_write(self) -> int:
        if self.reuse:
            return 0
        if not self.partial:
            return self.rows
        return sum(int(self.months[m][0]) for m in self.changed_months)


@dataclass(frozen=True)
class _Previous:
    """The live version a new one is compared with (and takes unchanged files from)."""

    version: str
    version_dir: Path
    manifest: dict[str, Any]

    def fingerprint(self, table: str) -> dict[str, Any] | None:
        if self.manifest.get("fingerprint_format") != FINGERPRINT_FORMAT:
            return None
        found = (self.manifest.get("fingerprints") or {}).get(table)
        # a version cleaned in place (erasure) has fewer rows than its fingerprint says
        if not found or self.manifest.get("row_counts", {}).get(table) != found.get("rows"):
            return None
        return found

    def written_by(self, relative: str) -> str:
        return (self.manifest.get("parquet_files") or {}).get(relative, self.version)


def _previous_version(serving_path: Path, versions_dir: Path) -> _Previous | None:
    version = live_version(serving_path)
    if version is None:
        return None
    version_dir = versions_dir / version
    try:
        manifest = json.loads((version_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return _Previous(version, version_dir, manifest)


def _fingerprint(
    con: duckdb.DuckDBPyConnection, relation: str, partition_column: str | None
) -> dict[str, Any]:
    """Row count and order-independent hash aggregates of the rows ``relation`` yields, per month
    of ``partition_column`` when given; with the column names and types. One scan in DuckDB."""
    described = con.execute(f"describe ({relation})").fetchall()
    columns = [[r[0], str(r[1])] for r in described]
    row_hash = f"hash({', '.join(_quote(c) for c, _ in columns)})"
    if partition_column is None:
        rows, total, xor = con.execute(
            f"select count(*), coalesce(sum(h), 0)::varchar, coalesce(bit_xor(h), 0)::varchar "
            f"from (select {row_hash} as h from ({relation}))"
        ).fetchone()
        return {"columns": columns, "rows": int(rows), "hash": f"{total}:{xor}"}
    months = {
        month: [int(rows), f"{total}:{xor}"]
        for month, rows, total, xor in con.execute(
            f"select month, count(*), sum(h)::varchar, bit_xor(h)::varchar from (select "
            f"{_month_sql(partition_column)} as month, {row_hash} as h from ({relation})) "
            "group by month order by month"
        ).fetchall()
    }
    return {
        "columns": columns,
        "rows": sum(v[0] for v in months.values()),
        "partition_column": partition_column,
        "months": months,
    }


def _plan_tables(
    build_db_path: Path,
    *,
    tables: list[str],
    source_schema: str,
    exclude_columns: Mapping[str, Sequence[str]],
    transform: Transform | None,
    partition_by: Mapping[str, str],
    explicit_partitions: bool,
    previous: _Previous | None,
    duckdb_config: Mapping[str, str] | None = None,
) -> list[_TablePlan]:
    """Each table's query and fingerprint (read from the build database), and what changed since
    ``previous``: unchanged tables are reused, partitioned tables rewrite their changed months."""
    plans = []
    con = duckdb.connect(config=dict(duckdb_config or {}))
    try:
        con.execute(f"attach {_sql_string(str(build_db_path))} as build (read_only)")
        for table in tables:
            source_cols = _source_columns(con, source_schema, table)
            if not source_cols:
                available = sorted(
                    r[0]
                    for r in con.execute(
                        "select table_name from duckdb_tables() where database_name = 'build' and "
                        "schema_name = ? union select view_name from duckdb_views() where "
                        "database_name = 'build' and schema_name = ?",
                        [source_schema, source_schema],
                    ).fetchall()
                )
                raise PublishError(
                    f"publish: table {source_schema}.{table} not found in {build_db_path} "
                    f"(schema {source_schema} has: {', '.join(available) or 'nothing'}); "
                    "nothing was published, the live version is unchanged"
                )
            excluded = set(exclude_columns.get(table, ())) | {VERSION_COLUMN}
            unknown = set(exclude_columns.get(table, ())) - set(source_cols)
            if unknown:
                raise PublishError(
                    f"publish: exclude_columns[{table!r}] names columns that "
                    f"{source_schema}.{table} does not have: {sorted(unknown)}"
                )
            kept = [c for c in source_cols if c not in excluded]
            relation = (
                f"select {', '.join(_quote(c) for c in kept)} "
                f"from build.{_quote(source_schema)}.{_quote(table)}"
            )
            if transform is not None:
                relation = transform(table, relation)
            column = partition_by.get(table)
            if column is not None:
                types = dict(
                    con.execute(
                        f"select column_name, column_type from (describe ({relation}))"
                    ).fetchall()
                )
                if types.get(column) not in ("DATE", "TIMESTAMP"):
                    if explicit_partitions:
                        raise PublishError(
                            f"publish: partition_by[{table!r}] = {column!r} must name a DATE or "
                            f"TIMESTAMP column of {table} (it has: "
                            f"{', '.join(f'{c} {t}' for c, t in types.items())})"
                        )
                    column = None  # a default that does not fit this table: not partitioned
            plan = _TablePlan(table, relation, _fingerprint(con, relation, column), column)
            _compare(plan, previous.fingerprint(table) if previous else None)
            plans.append(plan)
    finally:
        con.close()
    return plans


def _compare(plan: _TablePlan, before: dict[str, Any] | None) -> None:
    """Mark ``plan`` reused when its fingerprint equals ``before``; a partitioned table lists the
    months that changed (or appeared) and the ones that are gone."""
    new = plan.fingerprint
    if (
        before is None
        or before.get("columns") != new["columns"]
        or before.get("partition_column") != new.get("partition_column")
    ):
        plan.changed_months = sorted(plan.months) if plan.partition_column else []
        return
    if plan.partition_column is None:
        plan.reuse = before.get("hash") == new["hash"] and before.get("rows") == new["rows"]
        return
    old_months = before.get("months", {})
    plan.partial = True
    plan.changed_months = sorted(m for m, fp in plan.months.items() if old_months.get(m) != fp)
    plan.dropped_months = sorted(set(old_months) - set(plan.months))
    plan.reuse = not plan.changed_months and not plan.dropped_months


# -- the serving DuckDB file ----------------------------------------------------------------------


def _clone_file(source: Path, target: Path) -> str:
    """Copy ``source`` to ``target``: a reflink (shared extents, copy-on-write) where the file
    system has them (XFS, btrfs), else a full copy. Returns which it was."""
    try:
        with open(source, "rb") as src, open(target, "wb") as dst:
            try:
                fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
                return "reflink"
            except OSError:
                pass
        shutil.copyfile(source, target)
    except OSError as exc:  # sendfile's errors name no file: say which copy failed
        raise OSError(
            exc.errno, f"{exc.strerror} (copying {source} to {target})", str(target)
        ) from exc
    return "copy"


def _rebuild_serving_file(
    con: duckdb.DuckDBPyConnection, plans: list[_TablePlan], version: str
) -> None:
    con.execute(f"create schema {SERVING_SCHEMA}")
    for plan in plans:
        con.execute(
            f"create table {SERVING_SCHEMA}.{_quote(plan.name)} as "
            f"select *, {_sql_string(version)} as {VERSION_COLUMN} from ({plan.relation})"
        )


def _update_serving_file(
    con: duckdb.DuckDBPyConnection,
    plans: list[_TablePlan],
    version: str,
    previous_counts: Mapping[str, int],
) -> bool:
    """Turn a copy of the previous version's file into this version: drop tables no longer
    published, rewrite changed tables (changed months only for partitioned ones), and restamp
    ``publication_version`` everywhere (drop and re-add the column with a constant default:
    DuckDB writes a constant segment, it does not rewrite the rows). False, with nothing done,
    if the copy does not hold what the previous manifest says (then the caller rebuilds)."""
    present = {
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables() where database_name = current_database() "
            "and schema_name = ?",
            [SERVING_SCHEMA],
        ).fetchall()
    }
    for plan in plans:
        if plan.reuse or plan.partial:
            if plan.name not in present:
                return False
            count = con.execute(
                f"select count(*) from {SERVING_SCHEMA}.{_quote(plan.name)}"
            ).fetchone()[0]
            if count != previous_counts.get(plan.name):
                return False
    con.execute("begin")
    for name in set(present) - {p.name for p in plans}:
        con.execute(f"drop table {SERVING_SCHEMA}.{_quote(name)}")
    stamp = _sql_string(version)
    for plan in plans:
        target = f"{SERVING_SCHEMA}.{_quote(plan.name)}"
        if not (plan.reuse or plan.partial):
            con.execute(
                f"create or replace table {target} as "
                f"select *, {stamp} as {VERSION_COLUMN} from ({plan.relation})"
            )
            continue
        con.execute(f"alter table {target} drop column {VERSION_COLUMN}")
        months = [*plan.changed_months, *plan.dropped_months]
        if not plan.reuse and months:
            in_months = ", ".join(_sql_string(m) for m in months)
            month = _month_sql(plan.partition_column)
            con.execute(f"delete from {target} where {month} in ({in_months})")
            con.execute(
                f"insert into {target} select * from ({plan.relation}) "
                f"where {month} in ({in_months})"
            )
        con.execute(f"alter table {target} add column {VERSION_COLUMN} varchar default {stamp}")
        con.execute(f"alter table {target} alter column {VERSION_COLUMN} drop default")
    con.execute("commit")
    return True


# -- Parquet --------------------------------------------------------------------------------------


def _link_or_copy(source: Path, target: Path) -> bool:
    """Hard-link ``source`` (a sealed file of an older version) at ``target``; copy it where the
    file system refuses links. True if linked."""
    try:
        os.link(source, target)
        return True
    except OSError:
        _clone_file(source, target)
        _seal(target)
        return False


def _parquet_rows(path: Path) -> int | None:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except Exception:  # noqa: BLE001 - unreadable or missing: not reusable
        return None


def _parts_rows(parts: list[Path]) -> int | None:
    counts = [_parquet_rows(p) for p in parts]
    return None if None in counts else sum(counts)


def _month_dir(month: str) -> str:
    return f"{PARTITION_KEY}={month}"


def _write_parquet(
    con: duckdb.DuckDBPyConnection,
    parquet_dir: Path,
    plans: list[_TablePlan],
    *,
    folders: set[str],
    previous: _Previous | None,
    version: str,
    stats: dict[str, Any],
) -> tuple[dict[str, str], list[Path]]:
    """Write every table's Parquet from the new serving file, or hard-link the previous version's
    file where the rows are the same. Tables in ``folders`` are month folders
    (``<table>/month=YYYY-MM/part-0.parquet``), others ``<table>.parquet``. Returns each file
    (relative path) with the version that wrote it, and the files written here."""
    files: dict[str, str] = {}
    written: list[Path] = []
    old_dir = previous.version_dir / PARQUET_DIR if previous else None
    for plan in plans:
        source = f"{SERVING_SCHEMA}.{_quote(plan.name)}"
        if plan.name not in folders:
            relative = f"{plan.name}.parquet"
            old = old_dir / relative if old_dir else None
            if plan.reuse and old is not None and _parquet_rows(old) == plan.rows:
                _link_or_copy(old, parquet_dir / relative)
                files[relative] = previous.written_by(relative)
                stats["parquet_files_linked"] += 1
                continue
            con.execute(
                f"copy {source} to {_sql_string(str(parquet_dir / relative))} "
                "(format parquet, compression zstd)"
            )
            files[relative] = version
            written.append(parquet_dir / relative)
            continue
        table_dir = parquet_dir / plan.name
        linked: dict[str, list[Path]] = {}
        old_table = old_dir / plan.name if old_dir else None
        if old_table is not None and old_table.is_dir():
            changed = set(plan.changed_months)
            for month, (rows, _) in plan.months.items():
                old_month = old_table / _month_dir(month)
                parts = sorted(old_month.glob("*.parquet")) if month not in changed else []
                if parts and _parts_rows(parts) == rows:
                    linked[month] = parts
        to_write = [m for m in plan.months if m not in linked]
        if to_write:
            in_months = ", ".join(_sql_string(m) for m in to_write)
            month = _month_sql(plan.partition_column)
            con.execute(
                f"copy (select *, {month} as {PARTITION_KEY} from {source} where {month} in "
                f"({in_months})) to {_sql_string(str(table_dir))} (format parquet, "
                f"compression zstd, partition_by ({PARTITION_KEY}), filename_pattern 'part-{{i}}')"
            )
        table_dir.mkdir(exist_ok=True)  # an empty table is an empty folder
        for month in to_write:
            for part in sorted((table_dir / _month_dir(month)).glob("*.parquet")):
                files[part.relative_to(parquet_dir).as_posix()] = version
                written.append(part)
        for month, parts in linked.items():
            (table_dir / _month_dir(month)).mkdir()
            for part in parts:
                relative = f"{plan.name}/{_month_dir(month)}/{part.name}"
                _link_or_copy(part, parquet_dir / relative)
                files[relative] = previous.written_by(relative)
                stats["parquet_files_linked"] += 1
        stats["months_rewritten"] += len(to_write)
        stats["months_linked"] += len(linked)
    stats["parquet_files_written"] += len(written)
    return files, written


# -- building a version ---------------------------------------------------------------------------


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
    partition_by: Mapping[str, str],
    explicit_partitions: bool,
    parquet_folders: bool,
    previous: _Previous | None,
    duckdb_config: dict[str, str],
) -> tuple[dict[str, int], dict[str, list[str]], dict[str, Any]]:
    """Write ``staging/serving.duckdb`` and ``staging/parquet/``; return row counts, the
    published columns of each table, and what was reused (fingerprints, Parquet files with the
    version that wrote each, counts of what was rewritten and linked)."""
    clock = time.monotonic()
    seconds: dict[str, float] = {}

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.monotonic()
        seconds[phase] = round(now - clock, 3)
        clock = now

    plans = _plan_tables(
        build_db_path,
        tables=tables,
        source_schema=source_schema,
        exclude_columns=exclude_columns,
        transform=transform,
        partition_by=partition_by,
        explicit_partitions=explicit_partitions,
        previous=previous,
        duckdb_config=duckdb_config,
    )
    lap("fingerprint")
    (staging / PARQUET_DIR).mkdir(parents=True)
    db_path = staging / SERVING_FILE
    stats: dict[str, Any] = {
        "compared_with": previous.version if previous else None,
        "serving_file": "rebuilt",
        "tables_rewritten": sorted(p.name for p in plans if not p.reuse),
        "tables_reused": sorted(p.name for p in plans if p.reuse),
        "rows_rewritten": sum(p.rows_to_write() for p in plans),
        "months_rewritten": 0,
        "months_linked": 0,
        "parquet_files_written": 0,
        "parquet_files_linked": 0,
    }
    total_rows = sum(p.rows for p in plans)
    old_file = previous.version_dir / SERVING_FILE if previous else None
    incremental = (
        old_file is not None
        and old_file.is_file()
        and stats["rows_rewritten"] <= MAX_REWRITE_SHARE * total_rows
    )
    con = None
    try:
        if incremental:
            how = _clone_file(old_file, db_path)
            os.chmod(db_path, 0o600)
            con = duckdb.connect(str(db_path), config=duckdb_config)
            cursor = con.execute("pragma database_size")
            size = dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))
            free_blocks, total_blocks = size["free_blocks"], size["total_blocks"]
            con.execute(f"attach {_sql_string(str(build_db_path))} as build (read_only)")
            previous_counts = {
                p.name: previous.manifest["row_counts"][p.name]
                for p in plans
                if p.reuse or p.partial
            }
            # a file that is mostly free blocks after many updates is rebuilt (compacted)
            if free_blocks > MAX_FREE_SHARE * max(total_blocks, 1) or not _update_serving_file(
                con, plans, version, previous_counts
            ):
                con.close()
                con = None
                db_path.unlink()
            else:
                stats["serving_file"] = f"{how} of {previous.version}, changed rows replaced"
        if con is None:
            con = duckdb.connect(str(db_path), config=duckdb_config)
            con.execute(f"attach {_sql_string(str(build_db_path))} as build (read_only)")
            _rebuild_serving_file(con, plans, version)
        con.execute("detach build")
        row_counts: dict[str, int] = {}
        columns: dict[str, list[str]] = {}
        for plan in plans:
            target = f"{SERVING_SCHEMA}.{_quote(plan.name)}"
            row_counts[plan.name] = con.execute(f"select count(*) from {target}").fetchone()[0]
            columns[plan.name] = [
                r[0] for r in con.execute(f"select * from {target} limit 0").description
            ]
            if row_counts[plan.name] != plan.rows:  # the file must hold what was fingerprinted
                raise PublishError(
                    f"publish: {target} holds {row_counts[plan.name]} rows, the "
                    f"build database {plan.rows}; not publishing"
                )
        lap("serving_file")
        folders = {p.name for p in plans if parquet_folders and p.partition_column}
        files, written = _write_parquet(
            con,
            staging / PARQUET_DIR,
            plans,
            folders=folders,
            previous=previous,
            version=version,
            stats=stats,
        )
        lap("parquet")
        files[f"{PUBLICATION_TABLE}.parquet"] = version
        con.execute(f"drop table if exists {SERVING_SCHEMA}.{PUBLICATION_TABLE}")
        con.execute(
            f"create table {SERVING_SCHEMA}.{PUBLICATION_TABLE} (version varchar, "
            "published_at timestamptz, run_id varchar, row_counts json, check_summary json, "
            f"parquet_files json, {VERSION_COLUMN} varchar)"
        )
        con.execute(
            f"insert into {SERVING_SCHEMA}.{PUBLICATION_TABLE} values (?, ?, ?, ?, ?, ?, ?)",
            [
                version,
                published_at,
                run_id,
                json.dumps(row_counts),
                json.dumps(dict(check_summary), default=str),
                json.dumps(files),
                version,
            ],
        )
        target = staging / PARQUET_DIR / f"{PUBLICATION_TABLE}.parquet"
        con.execute(
            f"copy {SERVING_SCHEMA}.{PUBLICATION_TABLE} to {_sql_string(str(target))} "
            "(format parquet, compression zstd)"
        )
        written.append(target)
        con.execute("checkpoint")
    finally:
        if con is not None:
            con.close()
    wal = db_path.with_name(db_path.name + ".wal")
    if wal.exists():  # never expected after checkpoint + close; refuse rather than serve it
        raise PublishError(f"publish: {wal} remained after checkpoint; not publishing")
    _seal(db_path)
    for path in written:
        _seal(path)
    folders_written = [p for p in (staging / PARQUET_DIR).rglob("*") if p.is_dir()]
    for folder in sorted(folders_written, key=lambda p: -len(p.parts)):
        _fsync_path(folder)
    _fsync_path(staging / PARQUET_DIR)
    lap("seal")
    stats["seconds"] = seconds
    stats["bytes_written"] = db_path.stat().st_size + sum(p.stat().st_size for p in written)
    extras = {
        "fingerprint_format": FINGERPRINT_FORMAT,
        "fingerprints": {p.name: p.fingerprint for p in plans},
        "parquet_files": files,
        "parquet_folders": sorted(folders),
        "reuse": stats,
    }
    return row_counts, columns, extras


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
    partition_by: Mapping[str, str] | None = None,
    parquet_folders: bool = False,
    duckdb_config: Mapping[str, str] | None = None,
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

    Only what changed since the live version is written: ``partition_by`` maps a table to the
    DATE (or TIMESTAMP) column whose month partitions it (default ``DEFAULT_PARTITION_BY``, for
    the tables that have the column; ``{}`` for none); unchanged tables and months are reused.
    ``parquet_folders=True`` writes those tables as ``<table>/month=YYYY-MM/part-0.parquet``
    folders instead of one ``<table>.parquet`` (see publishing/README.md); only changed months
    are then rewritten.

    ``duckdb_config`` is given to every DuckDB connection the build opens (the platform passes
    its memory limit and spill folder, `warehouse.connection.duckdb_config`), so fingerprinting
    and copying big tables spill instead of growing past the limit.

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
            row_counts, columns, extras = _build_version(
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
                partition_by=DEFAULT_PARTITION_BY if partition_by is None else partition_by,
                explicit_partitions=partition_by is not None,
                parquet_folders=parquet_folders,
                previous=_previous_version(serving_path, vdir),
                duckdb_config=dict(duckdb_config or {}),
            )
            publication = Publication(
                version=version,
                published_at=published_at,
                run_id=run_id,
                version_dir=final,
                serving_path=serving_path,
                published_dir=published_dir,
                row_counts=row_counts,
                check_summary=dict(check_summary),
                columns=columns,
                **extras,
            )
            _write_manifest(staging, publication)
            if pg_dsn:
                from publishing.postgres import publish_to_postgres

                pg_schema = publish_to_postgres(
                    pg_dsn,
                    staging / SERVING_FILE,
                    [*tables, PUBLICATION_TABLE],
                    version,
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
                live_version(serving_path),
                _version_of_link(published_dir),
            }:
                _remove_tree(final)
            publog.append_log(
                vdir,
                {
                    "event": publog.FAILED,
                    "version": version,
                    "run_id": run_id,
                    "error": mask_secrets(f"{type(exc).__name__}: {exc}", pg_dsn),
                    "live_version": live_version(serving_path),
                    "pg_swapped": pg_schema is not None,
                },
            )
            raise
        pruned = _prune(
            vdir,
            keep_versions,
            {version, live_version(serving_path), _version_of_link(published_dir)},
        )
        duration = round(time.monotonic() - started, 3)
        publication = Publication(
            **{
                **publication.__dict__,
                "duration_seconds": duration,
                "pg_schema": pg_schema,
                "pruned": pruned,
            }
        )
        publog.append_log(
            vdir,
            {
                "event": publog.PUBLISHED,
                "version": version,
                "run_id": run_id,
                "published_at": published_at.isoformat(),
                "row_counts": row_counts,
                "check_summary": dict(check_summary),
                "duration_seconds": duration,
                "postgres_schema": pg_schema,
                **_postgres_log_fields(pg_dsn, pg_readers),
                "pruned": pruned,
                "reuse": publication.reuse,
            },
        )
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
            raise PublishError(
                f"rollback: version {version!r} is not kept under {vdir} "
                f"(kept: {', '.join(kept) or 'none'})"
            )
        _check_no_stale_wal(serving_path)
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        previous = live_version(serving_path)
        pg_schema = None
        if pg_dsn:
            from publishing.postgres import publish_to_postgres

            pg_schema = publish_to_postgres(
                pg_dsn,
                target / SERVING_FILE,
                [*manifest["row_counts"], PUBLICATION_TABLE],
                version,
                readers=pg_readers,
            )
        _swap_symlink(published_dir, target / PARQUET_DIR)
        _swap_symlink(serving_path, target / SERVING_FILE)
        publog.append_log(
            vdir,
            {
                "event": publog.ROLLED_BACK,
                "version": version,
                "from_version": previous,
                "run_id": run_id,
                "postgres_schema": pg_schema,
                **_postgres_log_fields(pg_dsn, pg_readers),
            },
        )
    return Publication(
        version=version,
        published_at=datetime.fromisoformat(manifest["published_at"]),
        run_id=manifest.get("run_id"),
        version_dir=target,
        serving_path=serving_path,
        published_dir=published_dir,
        row_counts=manifest["row_counts"],
        check_summary=manifest.get("check_summary", {}),
        columns=manifest.get("columns", {}),
        pg_schema=pg_schema,
        fingerprints=manifest.get("fingerprints") or {},
        fingerprint_format=manifest.get("fingerprint_format"),
        parquet_files=manifest.get("parquet_files") or {},
        parquet_folders=manifest.get("parquet_folders") or [],
        reuse=manifest.get("reuse") or {},
    )


def audited_check_summary(
    con: duckdb.DuckDBPyConnection, run_id: str, tables: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Each table's audit result in run `run_id`, read back from the stored suite results
    (``data_quality.results``): {passed, failed_expectations}, or not passed with a reason when
    its suite did not run in that run. Publication re-reads them rather than trusting the gate
    step alone, so a suite that never ran also blocks."""
    status = run_status(con, run_id)
    return {
        t: {"passed": status[t][0], "failed_expectations": status[t][1]}
        if t in status
        else {"passed": False, "reason": "suite did not run in this run"}
        for t in tables
    }

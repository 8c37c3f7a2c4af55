"""Erasure from the publications: the live one and every kept version.

Erasure never publishes the build database: after a blocked run it holds marts that did not pass
the audit. Instead the last good publication itself is copied, the erased persons' rows are
deleted from every table of the copy, and the copy is published as a new version with the same
atomic swap as any publication (`publishing.publish`, PostgreSQL included); its check summary
says it is that audited publication minus the erased persons. Every other kept version still
holds the persons: each is cleaned the same way in place (a rewritten DuckDB file and Parquet
files, each renamed over the old one, and an updated manifest), so rollback keeps working; a
version that cannot be cleaned (no manifest, unreadable) is removed. The returned report says
which, for the erasure audit.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from privacy.erasure import erase_rows
from publishing import publish
from publishing.serving import (
    LOCK_FILE,
    MANIFEST_FILE,
    PARQUET_DIR,
    PUBLICATION_TABLE,
    SERVING_FILE,
    SERVING_SCHEMA,
    STAGING_PREFIX,
    VERSION_RE,
    live_version,
)
from warehouse.files import fsync_path, make_private, rewrite_duckdb_file

# publishing seals every published file read-only (publishing.serving._seal)
_SEALED = 0o444


def _published_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables where table_schema = ? and "
            "table_name <> ? order by table_name",
            [SERVING_SCHEMA, PUBLICATION_TABLE],
        ).fetchall()
    ]


def _erase_from_copy(
    source: Path, copy: Path, values: set[str]
) -> tuple[list[str], dict[str, int]]:
    """Copy a published DuckDB file and delete the erased persons' rows from every table of the
    copy; return its tables and the rows removed per table (tables with none left out)."""
    shutil.copyfile(source, copy)
    make_private(copy)
    counts: dict[str, int] = {}
    with duckdb.connect(str(copy)) as con:
        tables = _published_tables(con)
        erase_rows(con, values, counts, schemas={SERVING_SCHEMA}, skip_tables={PUBLICATION_TABLE})
        con.execute("checkpoint")
    return tables, {k.removeprefix(f"{SERVING_SCHEMA}."): v for k, v in counts.items() if v}


def _ordered(tables: list[str], manifest: dict[str, Any]) -> list[str]:
    """The tables in the order the publication listed them (its row_counts), then the rest."""
    listed = [t for t in manifest.get("row_counts", {}) if t in tables]
    return listed + [t for t in tables if t not in listed]


def _read_manifest(version_dir: Path) -> dict[str, Any]:
    return json.loads((version_dir / MANIFEST_FILE).read_text(encoding="utf-8"))


def _check_summary(
    manifest: dict[str, Any], live: str, erasure_id: str, tables: list[str]
) -> dict[str, dict[str, Any]]:
    """Each table's audit result from the live publication, with a note that this version is
    that audited publication minus erased persons (traced back through earlier erasures)."""
    audited = manifest.get("check_summary") or {}
    out = {}
    for table in tables:
        result = audited.get(table) if isinstance(audited.get(table), dict) else {"passed": True}
        audited_version = result.get("audited_version", live)
        audited_run = result.get("audited_run", manifest.get("run_id"))
        erasures = [*result.get("erasures", []), erasure_id]
        out[table] = {
            **{k: v for k, v in result.items() if k != "note"},
            "note": f"the last audited publication {audited_version} (run {audited_run}) minus the "
            f"persons of erasure {', '.join(erasures)}: rows removed, nothing else changed",
            "audited_version": audited_version,
            "audited_run": audited_run,
            "from_version": live,
            "erasures": erasures,
        }
    return out


def republish_without(
    values: set[str],
    erasure_id: str,
    *,
    serving_path: Path,
    published_dir: Path,
    versions_dir: Path,
    keep_versions: int,
    pg_dsn: str | None = None,
    pg_readers: Sequence[str] = (),
    partition_by: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Publish the live publication minus the rows holding `values` (person_ids, identifiers) as
    a new version, then clean or remove every other kept version. Returns the report for the
    erasure audit: the new version, the version it was made from, the rows removed per table,
    and for every other version whether it was cleaned (rows removed per table), unchanged or
    removed (and why). `partition_by` as the publisher of these versions passes it (the intraday
    path's publication, `privacy.live`, publishes unpartitioned)."""
    versions_dir = Path(versions_dir)
    live = live_version(serving_path)
    report: dict[str, Any] = {
        "republished": None,
        "from_version": live,
        "rows_removed": {},
        "versions": {},
        "pruned": [],
    }
    if not versions_dir.is_dir():
        return report
    work = Path(tempfile.mkdtemp(prefix=".erasure-", dir=versions_dir))  # 0700, same file system
    try:
        if live is not None:
            live_dir = versions_dir / live
            tables, removed = _erase_from_copy(
                live_dir / SERVING_FILE, work / "live.duckdb", values
            )
            report["rows_removed"] = removed
            if removed:
                has_manifest = (live_dir / MANIFEST_FILE).exists()
                manifest = _read_manifest(live_dir) if has_manifest else {}
                summary = _check_summary(manifest, live, erasure_id, _ordered(tables, manifest))
                pub = publish(
                    work / "live.duckdb",
                    list(summary),
                    serving_path=serving_path,
                    published_dir=published_dir,
                    versions_dir=versions_dir,
                    run_id=f"erasure:{erasure_id}",
                    check_summary=summary,
                    keep_versions=keep_versions,
                    pg_dsn=pg_dsn,
                    pg_readers=pg_readers,
                    partition_by=partition_by,
                )
                report["republished"] = pub.version
                report["pruned"] = pub.pruned
            (work / "live.duckdb").unlink()
        report["versions"] = {
            name: {
                "action": "removed",
                "reason": "pruned by the publication: "
                "older than the newest SIYU_PUBLISH_KEEP_VERSIONS",
            }
            for name in report["pruned"]
        }
        report["versions"].update(
            _clean_kept_versions(
                versions_dir, values, erasure_id, work, skip={report["republished"]}
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report


def _clean_kept_versions(
    versions_dir: Path, values: set[str], erasure_id: str, work: Path, skip: set[str | None]
) -> dict[str, dict[str, Any]]:
    """Clean every version folder but `skip` in place, under the publication lock (no publish or
    rollback meanwhile); remove the ones that cannot be cleaned and half-built leftovers."""
    import fcntl

    out: dict[str, dict[str, Any]] = {}
    fd = os.open(versions_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for path in sorted(versions_dir.iterdir()):
            if not path.is_dir():
                continue
            if path.name.startswith(STAGING_PREFIX):  # a crashed publisher's half-built version
                shutil.rmtree(path, ignore_errors=True)
                out[path.name] = {
                    "action": "removed",
                    "reason": "half-built version left by a publication that did not finish",
                }
                continue
            if not VERSION_RE.match(path.name) or path.name in skip:
                continue
            try:
                removed = _clean_version(path, values, erasure_id, work)
            except Exception as exc:  # noqa: BLE001 - any version we cannot clean must go
                shutil.rmtree(path, ignore_errors=True)
                out[path.name] = {
                    "action": "removed",
                    "reason": f"could not be cleaned: {type(exc).__name__}: {exc}",
                }
                continue
            out[path.name] = (
                {"action": "cleaned", "rows_removed": removed}
                if removed
                else {"action": "unchanged", "rows_removed": {}}
            )
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    return out


def _clean_version(
    version_dir: Path, values: set[str], erasure_id: str, work: Path
) -> dict[str, int]:
    """Delete the erased rows from one kept version in place. Each file is rebuilt in `work` and
    renamed over the old one (readers of a file see the old or the new one, never half), the
    manifest last. Returns the rows removed per table ({} when the version held none)."""
    manifest = _read_manifest(version_dir)  # a version without a manifest cannot be vouched for
    copy = work / f"{version_dir.name}.duckdb"
    tables, removed = _erase_from_copy(version_dir / SERVING_FILE, copy, values)
    if not removed:
        copy.unlink()
        return {}
    with duckdb.connect(str(copy)) as con:
        counts = {
            t: con.execute(f'select count(*) from {SERVING_SCHEMA}."{t}"').fetchone()[0]
            for t in _ordered(tables, manifest)
        }
        con.execute(
            f"update {SERVING_SCHEMA}.{PUBLICATION_TABLE} set row_counts = ?", [json.dumps(counts)]
        )
    rewrite_duckdb_file(copy)  # the deleted rows leave the file's bytes too
    parquet = work / f"{version_dir.name}.parquet"
    parquet.mkdir()
    with duckdb.connect(str(copy), read_only=True) as con:
        for table in [*counts, PUBLICATION_TABLE]:
            target = version_dir / PARQUET_DIR / f"{table}.parquet"
            if table in removed or table == PUBLICATION_TABLE or not target.exists():
                con.execute(
                    f'copy {SERVING_SCHEMA}."{table}" to ? (format parquet, compression zstd)',
                    [str(parquet / f"{table}.parquet")],
                )
    for new in sorted(parquet.iterdir()):
        os.chmod(new, _SEALED)
        fsync_path(new)
        os.replace(new, version_dir / PARQUET_DIR / new.name)
    fsync_path(version_dir / PARQUET_DIR)
    os.chmod(copy, _SEALED)
    fsync_path(copy)
    os.replace(copy, version_dir / SERVING_FILE)
    manifest["row_counts"] = counts
    manifest.setdefault("erasures", []).append({"erasure_id": erasure_id, "rows_removed": removed})
    new_manifest = work / f"{version_dir.name}.manifest.json"
    new_manifest.write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
    fsync_path(new_manifest)
    os.replace(new_manifest, version_dir / MANIFEST_FILE)
    fsync_path(version_dir)
    return removed

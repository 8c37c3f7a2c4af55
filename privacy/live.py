"""Erasure from the live folder (the intraday path, SIYU_LIVE_DIR, `warehouse.live`).

The live folder holds the erased persons too until the next daily baseline and live run: raw rows
appended by the live loader and the live tables in `live.duckdb`, their person_ids and salted
identity hashes in the baselines, `user_tags_live` in the live publication and its kept versions.
`erase_live` removes them with the rules of the build database's erasure (`privacy.erasure`:
`erase_raw` by the identifier columns, `erase_rows` by person_id, identifier values, node ids and
the baseline's identity hashes), adds the identifiers to the live database's suppression list (the
live loader reads it with the JSONL list, so already-landed files never bring the persons back),
cleans the live publication like the daily one (`privacy.publications.republish_without`) and
rewrites every file it changed so the deleted values leave its bytes. All of it under the live
lock: no live run meanwhile. A missing live folder (or part of one) is nothing to erase.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb

from privacy import suppression
from privacy.erasure import (
    REDACTED,
    ErasureResult,
    erase_raw,
    erase_rows,
    live_identity_hashes,
    suppression_of,
)
from privacy.publications import republish_without
from publishing.live import live_lock
from warehouse.connection import connect
from warehouse.files import fsync_path, make_private, rewrite_duckdb_file
from warehouse.live import (
    BASELINES_DIR,
    live_db_path,
    published_dir,
    serving_path,
    versions_dir,
)

# the live publication keeps what `publishing.live.publish_live` keeps
LIVE_KEEP_VERSIONS = 3
# the live database's free-text tables (ledger messages, suite failure lines): redacted
LIVE_REDACT_SCHEMAS = {"intraday"}
_BASELINE_SCHEMA = "baseline"


def erase_live(
    live_dir: Path | str,
    result: ErasureResult,
    salt: str,
    keep_versions: int = LIVE_KEEP_VERSIONS,
) -> tuple[dict[str, int], dict[str, Any]]:
    """Erase `result`'s persons from the live folder. Returns the rows removed per table or file
    (keys prefixed `live/`, for the audit's counts) and a report: `present`, `database` (its
    rewrite, sizes before and after), `publication` (as `republish_without` reports it) and
    `redacted` (text files in which an erased value was replaced)."""
    live_dir = Path(live_dir)
    counts: dict[str, int] = {}
    report: dict[str, Any] = {"present": live_dir.is_dir()}
    if not live_dir.is_dir() or not (result.identifiers or result.person_ids):
        return counts, report
    values = result.erased_values | live_identity_hashes(result.identifiers, salt)
    with live_lock(live_dir):
        report["database"] = _erase_live_db(live_dir, result, salt, values, counts)
        counts.update(_clean_baselines(live_dir, values))
        report["publication"] = republish_without(
            values,
            result.erasure_id,
            serving_path=serving_path(live_dir),
            published_dir=published_dir(live_dir),
            versions_dir=versions_dir(live_dir),
            keep_versions=keep_versions,
            partition_by={},
        )
        report["redacted"] = _redact_text_files(live_dir, values)
    return {f"live/{k}": v for k, v in counts.items()}, report


def _erase_live_db(
    live_dir: Path, result: ErasureResult, salt: str, values: set[str], counts: dict[str, int]
) -> dict[str, Any] | None:
    """Suppress and delete in one transaction, checkpoint, then rewrite the file."""
    path = live_db_path(live_dir)
    if not path.exists():
        return None
    removed: dict[str, int] = {}
    with connect(path) as con:
        con.execute("begin transaction")
        try:
            suppression.add(con, result.identifiers, salt, result.erasure_id)
            erase_raw(con, suppression_of(result.identifiers, salt), removed)
            erase_rows(con, values, removed, redact_schemas=LIVE_REDACT_SCHEMAS)
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
        con.execute("checkpoint")
    counts.update({f"{path.name}:{k}": v for k, v in removed.items()})
    return {"rewritten": True, **rewrite_duckdb_file(path)}


def _clean_baselines(live_dir: Path, values: set[str]) -> dict[str, int]:
    """Delete the erased rows from every Parquet file of every baseline folder (the live one, the
    kept older one, a crashed write's leftover); a changed file is rewritten and renamed over the
    old one (owner-only, like the baseline)."""
    counts: dict[str, int] = {}
    root = live_dir / BASELINES_DIR
    if not root.is_dir():
        return counts
    for path in sorted(root.glob("*/*.parquet")):
        if not path.is_file() or path.is_symlink():
            continue
        removed: dict[str, int] = {}
        tmp = path.with_name(f".{path.name}.erasure")
        with duckdb.connect() as con:
            con.execute(f"create schema {_BASELINE_SCHEMA}")
            con.execute(
                f'create table {_BASELINE_SCHEMA}."{path.stem}" as select * from read_parquet(?)',
                [str(path)],
            )
            erase_rows(con, values, removed, schemas={_BASELINE_SCHEMA}, redact_schemas=())
            n = sum(removed.values())
            if not n:
                continue
            con.execute(
                f'copy {_BASELINE_SCHEMA}."{path.stem}" to ? (format parquet, compression zstd)',
                [str(tmp)],
            )
        make_private(tmp)
        fsync_path(tmp)
        os.replace(tmp, path)
        fsync_path(path.parent)
        counts[str(path.relative_to(live_dir))] = n
    return counts


def _redact_text_files(live_dir: Path, values: set[str]) -> dict[str, int]:
    """Replace erased values in the live folder's JSON and JSONL files (publication log,
    manifests: a suite's failure line may quote a person_id); each changed file is rewritten and
    renamed over the old one, keeping its mode."""
    needles = sorted({v.encode() for v in values if v}, key=len, reverse=True)
    out: dict[str, int] = {}
    for path in sorted(live_dir.rglob("*.json*")):
        if path.suffix not in (".json", ".jsonl") or not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        n = sum(data.count(v) for v in needles)
        if not n:
            continue
        for v in needles:
            data = data.replace(v, REDACTED.encode())
        tmp = path.with_name(f".{path.name}.erasure")
        tmp.write_bytes(data)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        fsync_path(tmp)
        os.replace(tmp, path)
        out[str(path.relative_to(live_dir))] = n
    return out

"""Load one day of one extract into the raw layer of the build database, idempotently.

Raw tables live in schema `raw`, one per extract (`raw.crm__orders`), every value as text plus the
lineage columns. Loading a partition first deletes that partition's rows, all in one transaction,
so re-running a day replaces exactly that day.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from ingestion.entities import Entity
from ingestion.reader import ExtractFileError, ParsedExtract, files_for, read_extract

RAW_SCHEMA = "raw"
QUARANTINE_TABLE = f"{RAW_SCHEMA}._quarantine_rows"
LOAD_LOG_TABLE = f"{RAW_SCHEMA}._load_log"


@dataclass
class LoadResult:
    entity: Entity
    partition_date: dt.date
    files: list[dict] = field(default_factory=list)
    rows_loaded: int = 0
    rows_quarantined: int = 0
    bytes_read: int = 0
    errors: list[str] = field(default_factory=list)  # one line per file that failed

    @property
    def ok(self) -> bool:
        return not self.errors


def ensure_raw_tables(con: duckdb.DuckDBPyConnection, entity: Entity) -> None:
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    cols = ", ".join(f'"{c.name}" varchar' for c in entity.columns)
    con.execute(
        f"create table if not exists {RAW_SCHEMA}.{entity.table} ({cols}, _source_file varchar, "
        "_row_number bigint, _loaded_at timestamp, _partition_date date)"
    )
    con.execute(
        f"create table if not exists {QUARANTINE_TABLE} (source varchar, entity varchar, "
        "source_file varchar, row_number bigint, rule varchar, message varchar, raw_record varchar, "
        "_loaded_at timestamp, _partition_date date)"
    )
    con.execute(
        f"create table if not exists {LOAD_LOG_TABLE} (source varchar, entity varchar, "
        "source_file varchar, sha256 varchar, encoding varchar, bytes bigint, rows_loaded bigint, "
        "rows_quarantined bigint, status varchar, message varchar, _loaded_at timestamp, "
        "_partition_date date)"
    )


def quarantine_file(path: Path, quarantine_dir: Path, entity: Entity, day: dt.date, reason: str) -> Path:
    """Copy a rejected file to `<quarantine>/files/<source>/<day>/` with a `.reason.txt` beside it."""
    target_dir = quarantine_dir / "files" / entity.source / day.isoformat()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / path.name
    shutil.copy2(path, target)
    (target_dir / f"{path.name}.reason.txt").write_text(reason + "\n", encoding="utf-8")
    return target


def write_rejected_rows(rejects: pd.DataFrame, quarantine_dir: Path, entity: Entity, day: dt.date) -> Path:
    target_dir = quarantine_dir / "rows" / entity.source / day.isoformat()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{entity.name}.rejected.jsonl"
    lines = (json.dumps(r, ensure_ascii=False, default=str) for r in rejects.to_dict("records"))
    target.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return target


def load_partition(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    day: dt.date,
    landing_dir: Path,
    quarantine_dir: Path,
    suppressed: dict[str, set[str]] | None = None,
) -> LoadResult:
    """Load every file of `entity` landed for `day`. Files that fail are quarantined and reported.

    If any file fails, nothing of this partition is replaced (the previous load stays) and the
    caller fails the asset with the returned one-line errors; the good rows are not half-loaded.
    `suppressed` maps raw column -> values to drop (erased persons that must not come back).
    """
    day_dir = landing_dir / entity.source / day.isoformat()
    result = LoadResult(entity, day)
    parsed: list[ParsedExtract] = []
    for path in files_for(entity, day_dir):
        label = f"{entity.source}/{day.isoformat()}/{path.name}"
        try:
            parsed.append(read_extract(path, entity, label))
        except ExtractFileError as exc:
            message = str(exc)
            result.errors.append(message)
            quarantine_file(path, quarantine_dir, entity, day, message)
            result.files.append({"file": label, "status": "quarantined", "message": message,
                                 "bytes": path.stat().st_size})
    ensure_raw_tables(con, entity)
    if result.errors:
        return result

    loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    frames, rejects = [], []
    for p in parsed:
        label = f"{entity.source}/{day.isoformat()}/{p.path.name}"
        rows = p.rows
        if suppressed:
            for column, values in suppressed.items():
                if column in rows and values:
                    rows = rows[~rows[column].isin(values)]
        rows = rows.assign(_source_file=label, _loaded_at=loaded_at, _partition_date=day)
        frames.append(rows)
        for r in p.rejects:
            rejects.append({"source": entity.source, "entity": entity.name, "source_file": label,
                            "row_number": r.row_number, "rule": r.rule, "message": r.message,
                            "raw_record": r.raw_record, "_loaded_at": loaded_at,
                            "_partition_date": day})
        result.files.append({
            "file": label, "status": "loaded", "encoding": p.encoding, "bytes": p.n_bytes,
            "rows": len(rows), "rejected": len(p.rejects),
            "sha256": hashlib.sha256(p.path.read_bytes()).hexdigest(),
        })
        result.bytes_read += p.n_bytes

    columns = [c.name for c in entity.columns] + ["_source_file", "_row_number", "_loaded_at",
                                                  "_partition_date"]
    data = pd.concat(frames, ignore_index=True)[columns] if frames else None
    reject_frame = pd.DataFrame(rejects) if rejects else None
    con.execute("begin transaction")
    try:
        con.execute(f"delete from {RAW_SCHEMA}.{entity.table} where _partition_date = ?", [day])
        con.execute(f"delete from {QUARANTINE_TABLE} where source = ? and entity = ? and "
                    "_partition_date = ?", [entity.source, entity.name, day])
        con.execute(f"delete from {LOAD_LOG_TABLE} where source = ? and entity = ? and "
                    "_partition_date = ?", [entity.source, entity.name, day])
        if data is not None and len(data):
            con.register("_incoming", data)
            con.execute(f"insert into {RAW_SCHEMA}.{entity.table} select * from _incoming")
            con.unregister("_incoming")
        if reject_frame is not None:
            con.register("_rejects", reject_frame)
            con.execute(f"insert into {QUARANTINE_TABLE} select source, entity, source_file, "
                        "row_number, rule, message, raw_record, _loaded_at, _partition_date "
                        "from _rejects")
            con.unregister("_rejects")
        for f in result.files:
            con.execute(
                f"insert into {LOAD_LOG_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [entity.source, entity.name, f["file"], f.get("sha256"), f.get("encoding"),
                 f.get("bytes"), f.get("rows"), f.get("rejected"), f["status"],
                 json.dumps(f.get("message")), loaded_at, day],
            )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    if reject_frame is not None:
        write_rejected_rows(reject_frame, quarantine_dir, entity, day)
    result.rows_loaded = 0 if data is None else len(data)
    result.rows_quarantined = len(rejects)
    return result

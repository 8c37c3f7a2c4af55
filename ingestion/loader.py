"""Load one day of one extract into the raw layer of the build database, idempotently.

Raw tables live in schema `raw`, one per extract (`raw.crm__orders`), every value as text plus the
lineage columns. Loading a partition first deletes that partition's rows, all in one transaction,
so re-running a day replaces exactly that day.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from ingestion.entities import IDENTIFIER_COLUMNS, Entity
from ingestion.landing import read_landed, scan
from ingestion.reader import (
    ExtractFileError,
    ParsedExtract,
    RefusedFileError,
    read_extract,
    rejects_of,
)
from ingestion.validation import validation_query
from privacy.suppression import Suppression
from warehouse.files import PRIVATE_FILE, private_dir
from warehouse.lake import write_raw_days

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
    # one line per landed entry that was not loaded and is no error: a file whose name matches no
    # extract, a day folder not named YYYY-MM-DD (ingestion.landing); the load still succeeds
    warnings: list[str] = field(default_factory=list)

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


def quarantine_file(
    label: str, data: bytes | None, quarantine_dir: Path, reason: str
) -> Path | None:
    """Keep a rejected file as `<quarantine>/files/<label>` (`<source>/<day>/<name>`) with a
    `<name>.reason.txt` beside it. `data` is what the loader read; None for an entry that was
    refused unread (a link, a FIFO): then only the reason is written, never a copy."""
    target = quarantine_dir / "files" / label
    private_dir(target.parent, root=quarantine_dir)
    _write_private(target.with_name(f"{target.name}.reason.txt"), (reason + "\n").encode())
    if data is None:
        return None
    _write_private(target, data)
    return target


def write_rejected_rows(
    rejects: pd.DataFrame, quarantine_dir: Path, entity: Entity, day: dt.date
) -> Path:
    target_dir = quarantine_dir / "rows" / entity.source / day.isoformat()
    private_dir(target_dir, root=quarantine_dir)
    target = target_dir / f"{entity.name}.rejected.jsonl"
    lines = (json.dumps(r, ensure_ascii=False, default=str) for r in rejects.to_dict("records"))
    _write_private(target, "".join(line + "\n" for line in lines).encode("utf-8"))
    return target


def _write_private(path: Path, data: bytes) -> None:
    """Write an owner-only (0600) file: quarantined files and rows hold raw personal data. A link
    at `path` is replaced, never written through."""
    if path.is_symlink():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fd, PRIVATE_FILE)
        fh.write(data)


def load_partition(con, entity, day, landing_dir, quarantine_dir, suppressed=None) -> LoadResult:
    """Load every file of `entity` landed for one `day` (see `load_days`)."""
    return load_days(con, entity, [day], landing_dir, quarantine_dir, suppressed)


# Files are parsed and validated in batches of about this many bytes, all in one transaction: a
# year of a million members' events is some 10 GB, and a batch's rows are in memory while it loads.
BATCH_BYTES = 256 * 1024 * 1024


def use_system_arrow_pool() -> None:
    """Parse batches with the C allocator: Arrow's default pool (jemalloc or mimalloc) keeps the
    freed buffers of earlier batches. Loading a year of 200,000 members' mini-program events
    (12 million rows, 2 GB DuckDB limit) peaked at 4,113 MiB with the default pool and 3,738 MiB
    with this one. Process-wide: every later Arrow allocation of the process uses it too."""
    if pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())


def load_days(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    days: list[dt.date],
    landing_dir: Path,
    quarantine_dir: Path,
    suppressed: Suppression | dict[str, set[str]] | None = None,
    batch_bytes: int = BATCH_BYTES,
    lake_dir: Path | None = None,
) -> LoadResult:
    """Load every file of `entity` landed for `days`, replacing exactly those days, in one
    transaction. Files are read, parsed and validated (`ingestion.validation`, in the database)
    in batches of about `batch_bytes`, so memory stays bounded whatever the range.

    Which landed entries are read is `ingestion.landing.scan`'s: an entry that is not a regular
    file (a link, a FIFO) is refused unread, an error with only a `.reason.txt` in the quarantine;
    a file matching no extract or outside a YYYY-MM-DD folder is a line in `LoadResult.warnings`.
    Files that fail are quarantined and reported as one line each. If any file fails, nothing of
    those days is replaced (the transaction is rolled back, the previous load stays) and the caller
    fails the asset: good rows are never half-loaded. `suppressed` drops the rows of erased persons:
    a `privacy.Suppression` (salted hashes of their identifiers, matched on the entity's identifier
    columns and in rejected rows' raw records) or a mapping raw column -> raw values.

    With `lake_dir`, the committed days are then written to the raw lake (`warehouse.lake`), each
    day's folder replaced whole; a range that failed leaves the lake as it was, like the tables.
    """
    use_system_arrow_pool()
    result = LoadResult(entity, days[0] if days else dt.date.min)
    landed = scan(entity, landing_dir, days)
    for day, label, message in landed.refused:
        result.errors.append(message)
        quarantine_file(label, None, quarantine_dir, message)
        result.files.append({"file": label, "day": day, "status": "refused", "message": message})
    result.warnings = [message for _, _, message in landed.warnings]
    ensure_raw_tables(con, entity)
    loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    columns = [c.name for c in entity.columns]
    loaded_files: list[dict] = []
    reject_rows: list[dict] = []
    rows_loaded = 0

    con.execute("begin transaction")
    try:
        con.execute(
            f"delete from {RAW_SCHEMA}.{entity.table} where _partition_date in "
            f"(select unnest(?::date[]))",
            [days],
        )
        for table in (QUARANTINE_TABLE, LOAD_LOG_TABLE):
            con.execute(
                f"delete from {table} where source = ? and entity = ? and "
                "_partition_date in (select unnest(?::date[]))",
                [entity.source, entity.name, days],
            )
        for batch in _batches(landed.files, batch_bytes):
            parsed = _parse_batch(batch, entity, landing_dir, quarantine_dir, result)
            if result.errors:
                continue  # read on to report and quarantine every failing file; load nothing more
            loaded, rejects, per_file = _load_batch(
                con, entity, parsed, suppressed, loaded_at, columns
            )
            rows_loaded += loaded
            reject_rows += rejects
            rejected_per_file: dict[str, int] = {}
            for r in rejects:
                rejected_per_file[r["source_file"]] = rejected_per_file.get(r["source_file"], 0) + 1
            for day, label, p in parsed:
                result.bytes_read += p.n_bytes
                loaded_files.append(
                    {
                        "file": label,
                        "day": day,
                        "status": "loaded",
                        "encoding": p.encoding,
                        "bytes": p.n_bytes,
                        "rows": int(per_file.get(label, 0)),
                        "rejected": rejected_per_file.get(label, 0),
                        "sha256": p.sha256,
                    }
                )
        if result.errors:
            con.execute("rollback")
            result.bytes_read = 0
            return result
        result.files += loaded_files
        if reject_rows:
            con.register("_rejects", pd.DataFrame(reject_rows))
            con.execute(
                f"insert into {QUARANTINE_TABLE} select source, entity, source_file, "
                "row_number, rule, message, raw_record, _loaded_at, _partition_date "
                "from _rejects"
            )
            con.unregister("_rejects")
        # entries not loaded without an error (ingestion.landing) are in the log as `ignored`
        ignored = [
            {"file": label, "day": day or days[0], "status": "ignored", "message": message}
            for day, label, message in landed.warnings
        ]
        if result.files or ignored:
            log = pd.DataFrame(
                [
                    {
                        "source": entity.source,
                        "entity": entity.name,
                        "source_file": f["file"],
                        "sha256": f.get("sha256"),
                        "encoding": f.get("encoding"),
                        "bytes": f.get("bytes"),
                        "rows_loaded": f.get("rows"),
                        "rows_quarantined": f.get("rejected"),
                        "status": f["status"],
                        "message": json.dumps(f.get("message")),
                        "_loaded_at": loaded_at,
                        "_partition_date": f["day"],
                    }
                    for f in result.files + ignored
                ]
            )
            con.register("_log", log)
            con.execute(f"insert into {LOAD_LOG_TABLE} select * from _log")
            con.unregister("_log")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    if lake_dir is not None:
        write_raw_days(con, entity.table, days, lake_dir)
    if reject_rows:
        reject_frame = pd.DataFrame(reject_rows)
        for (day, _), group in reject_frame.groupby(["_partition_date", "entity"]):
            write_rejected_rows(group, quarantine_dir, entity, pd.Timestamp(day).date())
    result.rows_loaded = rows_loaded
    result.rows_quarantined = len(reject_rows)
    return result


def _batches(files: list, batch_bytes: int):
    """`files` in landing order, in runs of about `batch_bytes` (by size on disk)."""
    batch, size = [], 0
    for f in files:
        try:
            n = f.path.lstat().st_size
        except OSError:
            n = 0  # read_landed reports it
        if batch and size + n > batch_bytes:
            yield batch
            batch, size = [], 0
        batch.append(f)
        size += n
    if batch:
        yield batch


def _parse_batch(batch, entity, landing_dir, quarantine_dir, result: LoadResult):
    """Read and parse each file of `batch`; a file that fails is quarantined and is one line in
    `result.errors`."""
    parsed: list[tuple[dt.date, str, ParsedExtract]] = []
    for f in batch:
        data = None
        try:
            data = read_landed(f, landing_dir)
            p = read_extract(f.path, entity, f.label, check=False, data=data)
            parsed.append((f.day, f.label, p))
            result.warnings += p.warnings
        except ExtractFileError as exc:
            message = str(exc)
            result.errors.append(message)
            refused = isinstance(exc, RefusedFileError)
            quarantine_file(f.label, None if refused else data, quarantine_dir, message)
            result.files.append(
                {
                    "file": f.label,
                    "day": f.day,
                    "status": "refused" if refused else "quarantined",
                    "message": message,
                    "bytes": None if data is None else len(data),
                }
            )
    return parsed


def _load_batch(con, entity, parsed, suppressed, loaded_at, columns):
    """Validate the parsed files of one batch in the database and insert the good rows.
    Returns (rows loaded, reject rows for the quarantine, rows loaded per file)."""
    tables = [p.table for _, _, p in parsed]
    sizes = [t.num_rows for t in tables]
    labels = [label for _, label, _ in parsed]
    day_of_file = {label: day for day, label, _ in parsed}
    incoming = pa.concat_tables(tables) if tables else None
    parse_rejects = [(label, day, r) for day, label, p in parsed for r in p.rejects]
    if incoming is not None and incoming.num_rows:
        file_index = np.repeat(np.arange(len(parsed), dtype="int32"), sizes)
        incoming = incoming.append_column(
            "_label", pa.DictionaryArray.from_arrays(file_index, pa.array(labels, pa.string()))
        ).append_column(
            "_partition_date",
            pa.array(np.repeat(np.array([d for d, _, _ in parsed], dtype="datetime64[D]"), sizes)),
        )
        if isinstance(suppressed, Suppression) and suppressed:
            # An erased person's rows go before validation, so their rejected rows are never kept
            # either: matched on the identifier columns, whatever the row's other faults.
            ids = [c for c in IDENTIFIER_COLUMNS.get(entity.table, {}) if c in columns]
            mask = suppressed.row_mask(incoming.select(ids).to_pandas(), entity.table)
            incoming = incoming.filter(pa.array(~mask.to_numpy(dtype=bool)))
    rejects = []
    per_file: dict[str, int] = {}
    loaded = 0
    if incoming is not None and incoming.num_rows:
        con.register("_incoming", incoming)
        try:
            con.execute(
                "create or replace temp table _validated as "
                + validation_query(entity, "_incoming", with_partition=True)
            )
        finally:
            con.unregister("_incoming")
        rejects = rejects_of(con, entity, "_validated")
        keep = "_rule is null"
        params: list = []
        if suppressed and not isinstance(suppressed, Suppression):
            for column, values in suppressed.items():
                if column in columns and values:
                    keep += f' and ("{column}" is null or "{column}" not in (select unnest(?)))'
                    params.append(sorted(values))
        select = ", ".join(f'"{c}"' for c in columns)
        con.execute(
            f"insert into {RAW_SCHEMA}.{entity.table} select {select}, _label::varchar, "
            f"_row_number, ?::timestamp, _partition_date from _validated where {keep}",
            [loaded_at, *params],
        )
        per_file = dict(
            con.execute(
                f"select _label::varchar, count(*) from _validated where {keep} group by 1",
                params,
            ).fetchall()
        )
        loaded = sum(per_file.values())
        con.execute("drop table _validated")
    if isinstance(suppressed, Suppression) and suppressed:
        # an erased person's rejected rows stay out of the quarantine too
        rejects = [r for r in rejects if not suppressed.text_matches(r.raw_record)]
        parse_rejects = [
            (label, day, r)
            for label, day, r in parse_rejects
            if not suppressed.text_matches(r.raw_record)
        ]
    # a parse reject belongs to the file it came from; a validation reject names its file
    located = parse_rejects + [(r.source_file, day_of_file[r.source_file], r) for r in rejects]
    reject_rows = [
        {
            "source": entity.source,
            "entity": entity.name,
            "source_file": r.source_file or label,
            "row_number": r.row_number,
            "rule": r.rule,
            "message": r.message,
            "raw_record": r.raw_record,
            "_loaded_at": loaded_at,
            "_partition_date": day_of_file.get(r.source_file or label, day),
        }
        for label, day, r in located
    ]
    return loaded, reject_rows, per_file

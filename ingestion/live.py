"""The intraday path's loader: append newly landed extract files to the live database.

The systems drop extracts several times a day into `<landing>/<source>/<day>/` (names carry the
batch time: `events_1415.jsonl`, datagen `--batches-per-day`). The daily ingest reads the whole
day folder; this loader takes only the files it has not loaded yet, for the days after the last
daily publication (the live baseline's day, `warehouse.live`), into the **live** database (its own
DuckDB file, never the build database), with the same reading, parsing and row rules as the
daily load (`ingestion.reader`, `ingestion.validation`).

Idempotent by file: `intraday.files` records each file's label, size, modification time and
sha256. A file seen before with the same bytes changes nothing; a file whose bytes changed under
the same name replaces its earlier rows; a file holding the same bytes as another one already
loaded (a re-sent copy under a new name) is recorded as `duplicate` and loads no row. Rows
repeated across files are counted once by the live tables (each keeps one row per interaction,
as staging does). A file that cannot be read is `failed` (one line naming it; the daily ingest
quarantines it) and is tried again only when it changes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ingestion.entities import Entity, entity
from ingestion.landing import DAY_FOLDER, LandedFile, read_landed, scan
from ingestion.loader import _load_batch, ensure_raw_tables
from ingestion.reader import ExtractFileError, read_extract
from privacy.suppression import Suppression
from privacy.suppression import load as load_suppression
from publishing.live import live_lock, require_baseline
from warehouse.connection import connect
from warehouse.live import live_db_path

# The extracts the live tables read: touches and inbound actions (fct_interactions' four) and
# orders (activity for last_active_at).
LIVE_ENTITIES: tuple[Entity, ...] = tuple(
    entity(source, name)
    for source, name in (
        ("wecom", "messages"),
        ("wecom", "campaign_sends"),
        ("crm", "sms_sends"),
        ("miniprogram", "events"),
        ("crm", "orders"),
        ("miniprogram", "orders"),
    )
)
LIVE_SCHEMA = "intraday"
LEDGER_TABLE = f"{LIVE_SCHEMA}.files"


@dataclass(frozen=True)
class LiveFile:
    """A landed file of a live extract, with what identifies its bytes cheaply."""

    entity: Entity
    landed: LandedFile
    size: int
    mtime_ns: int

    @property
    def label(self) -> str:
        return self.landed.label


@dataclass
class LiveFileResult:
    label: str
    day: dt.date
    status: str  # loaded, replaced, duplicate, failed
    rows: int = 0
    rejected: int = 0
    message: str = ""


@dataclass
class LiveLoadResult:
    files: list[LiveFileResult] = field(default_factory=list)
    unchanged: int = 0  # files seen before with the same size and time
    superseded_rows: int = 0  # rows of days the daily run has consolidated, dropped

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def failed(self) -> list[LiveFileResult]:
        return [f for f in self.files if f.status == "failed"]


def live_days(landing_dir: Path, sources: tuple[str, ...], after: dt.date | None) -> list[dt.date]:
    """Day folders of `sources` after `after` (the last consolidated day), in order."""
    days: set[dt.date] = set()
    for source in sources:
        folder = Path(landing_dir) / source
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            if DAY_FOLDER.match(entry.name) and entry.is_dir(follow_symlinks=False):
                try:
                    day = dt.date.fromisoformat(entry.name)
                except ValueError:
                    continue
                if after is None or day > after:
                    days.add(day)
    return sorted(days)


def landed_live_files(
    landing_dir: Path, sources: tuple[str, ...], after: dt.date | None
) -> list[LiveFile]:
    """Every regular file of a live extract landed for a day after `after`, with its size and
    modification time (what the sensor's cursor and the ledger compare first)."""
    days = live_days(landing_dir, sources, after)
    out: list[LiveFile] = []
    if not days:
        return out
    for ent in LIVE_ENTITIES:
        if ent.source not in sources:
            continue
        for landed in scan(ent, Path(landing_dir), days).files:
            try:
                st = landed.path.lstat()
            except OSError:
                continue
            out.append(LiveFile(ent, landed, st.st_size, st.st_mtime_ns))
    return out


def ensure_live_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The live database's raw tables (the daily layout, schema raw) and the file ledger."""
    for ent in LIVE_ENTITIES:
        ensure_raw_tables(con, ent)
    con.execute(f"create schema if not exists {LIVE_SCHEMA}")
    con.execute(
        f"create table if not exists {LEDGER_TABLE} (label varchar primary key, source varchar, "
        "entity varchar, day date, size bigint, mtime_ns bigint, sha256 varchar, status varchar, "
        "rows_loaded bigint, rows_rejected bigint, message varchar, loaded_at timestamp)"
    )


def drop_superseded(con: duckdb.DuckDBPyConnection, through: dt.date | None) -> int:
    """Delete the live rows and ledger entries of days up to `through` (consolidated by the daily
    run, whose marts supersede them). Returns the rows deleted."""
    if through is None:
        return 0
    deleted = 0
    for ent in LIVE_ENTITIES:
        deleted += con.execute(
            f"delete from raw.{ent.table} where _partition_date <= ?", [through]
        ).fetchone()[0]
    con.execute(f"delete from {LEDGER_TABLE} where day <= ?", [through])
    return deleted


def load_new_files(
    con: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    sources: tuple[str, ...],
    after: dt.date | None,
    suppressed: Suppression | None = None,
) -> LiveLoadResult:
    """Append the files landed after day `after` that the ledger does not hold yet (see the
    module docstring), in one transaction, after dropping the days up to `after`."""
    ensure_live_tables(con)
    result = LiveLoadResult()
    loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    known = {
        label: (size, mtime_ns, sha)
        for label, size, mtime_ns, sha in con.execute(
            f"select label, size, mtime_ns, sha256 from {LEDGER_TABLE}"
        ).fetchall()
    }
    con.execute("begin transaction")
    try:
        result.superseded_rows = drop_superseded(con, after)
        if after is not None:
            known = {
                k: v for k, v in known.items() if _label_day(k) is None or _label_day(k) > after
            }
        shas = {v[2]: k for k, v in known.items() if v[2]}
        for f in landed_live_files(landing_dir, sources, after):
            before = known.get(f.label)
            if before is not None and before[:2] == (f.size, f.mtime_ns):
                result.unchanged += 1
                continue
            outcome = _load_file(con, f, landing_dir, before, shas, suppressed, loaded_at)
            result.files.append(outcome)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return result


def _label_day(label: str) -> dt.date | None:
    parts = label.split("/")
    try:
        return dt.date.fromisoformat(parts[1]) if len(parts) > 2 else None
    except ValueError:
        return None


def _load_file(
    con, f: LiveFile, landing_dir: Path, before, shas: dict[str, str], suppressed, loaded_at
):
    ent, label, day = f.entity, f.label, f.landed.day
    try:
        data = read_landed(f.landed, Path(landing_dir))
    except ExtractFileError as exc:
        outcome = LiveFileResult(label, day, "failed", message=str(exc))
        _record(con, f, "", outcome, loaded_at)
        return outcome
    sha = hashlib.sha256(data).hexdigest()
    if before is not None and before[2] == sha:
        # touched, not changed: only the ledger's size and time move on
        outcome = LiveFileResult(label, day, "unchanged")
        _record(con, f, sha, outcome, loaded_at)
        return outcome
    twin = shas.get(sha)
    if twin is not None and twin != label:
        outcome = LiveFileResult(label, day, "duplicate", message=f"same bytes as {twin}")
        _record(con, f, sha, outcome, loaded_at)
        return outcome
    con.execute(f"delete from raw.{ent.table} where _source_file = ?", [label])
    try:
        parsed = read_extract(f.landed.path, ent, label, check=False, data=data)
    except ExtractFileError as exc:
        outcome = LiveFileResult(label, day, "failed", message=str(exc))
        _record(con, f, sha, outcome, loaded_at)
        return outcome
    columns = [c.name for c in ent.columns]
    loaded, rejects, _ = _load_batch(
        con, ent, [(day, label, parsed)], suppressed, loaded_at, columns
    )
    status = "replaced" if before is not None else "loaded"
    outcome = LiveFileResult(label, day, status, rows=loaded, rejected=len(rejects))
    _record(con, f, sha, outcome, loaded_at)
    shas[sha] = label
    return outcome


def _record(con, f: LiveFile, sha: str, outcome: LiveFileResult, loaded_at) -> None:
    con.execute(f"delete from {LEDGER_TABLE} where label = ?", [f.label])
    con.execute(
        f"insert into {LEDGER_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            f.label,
            f.entity.source,
            f.entity.name,
            f.landed.day,
            f.size,
            f.mtime_ns,
            sha,
            outcome.status,
            outcome.rows,
            outcome.rejected,
            outcome.message,
            loaded_at,
        ],
    )


def load_live(
    live_dir: Path | str,
    landing_dir: Path | str,
    sources: tuple[str, ...],
    salt: str,
    suppression_path: Path | None = None,
) -> tuple[LiveLoadResult, dt.date]:
    """The live job's first step: append the new files landed after the baseline's day to the
    live database (waiting for another live writer, never for the daily run). Returns what was
    loaded and the baseline's day."""
    baseline = require_baseline(live_dir)
    with live_lock(live_dir), connect(live_db_path(live_dir)) as con:
        # erased persons (PIPL art. 47) stay out of the live rows as out of every daily load
        suppressed = load_suppression(con, salt, suppression_path)
        result = load_new_files(con, Path(landing_dir), sources, baseline.as_of_date, suppressed)
    return result, baseline.as_of_date

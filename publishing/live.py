"""Write, audit, publish for the live tables, on their own files (see warehouse/live.py).

`refresh_live_tables` rebuilds `marts.engagement_live` and `marts.user_tags_live` in the live
database and runs their suites (`data_quality.live`), storing each result for the run;
`publish_live` publishes them with `publishing.serving.publish` to `<live>/serving_live.duckdb`
(schema marts) and `<live>/published/<table>.parquet`, only when every suite of the run passed.
A failed suite leaves the previous live publication byte-identical and is logged as a blocked
attempt (`<live>/publications/publication_log.jsonl`). Nothing here touches the build database
or the daily publication.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from data_quality.live import failure_line, validate_live
from data_quality.runner import SuiteResult
from publishing import log as publog
from publishing.serving import Publication, publish
from warehouse.connection import connect
from warehouse.live import (
    LIVE_TABLES,
    Baseline,
    LiveTables,
    build_live_tables,
    live_db_path,
    published_dir,
    read_baseline,
    serving_path,
    versions_dir,
)

VALIDATION_TABLE = "intraday.validation"
LOCK_FILE = ".live.lock"
LOCK_TIMEOUT_S = 300.0


class LiveError(RuntimeError):
    """The live path cannot go on; the message is one line saying why and what to do."""


@contextlib.contextmanager
def live_lock(live_dir: Path | str, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """One writer of the live database at a time (a sensor run, `siyu run --live`): waits up to
    `timeout_s` for the other, then fails in one line. Never taken by the daily run."""
    live_dir = Path(live_dir)
    live_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    with open(live_dir / LOCK_FILE, "a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LiveError(
                        f"another live run holds {live_dir / LOCK_FILE} for over {timeout_s:.0f} s"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def require_baseline(live_dir: Path | str) -> Baseline:
    baseline = read_baseline(live_dir)
    if baseline is None:
        raise LiveError(
            f"no daily baseline under {Path(live_dir) / 'baseline'}: the live path starts from the "
            "last daily publication; run the daily job (`siyu run`) first"
        )
    return baseline


@dataclass(frozen=True)
class LiveRefresh:
    tables: LiveTables
    results: dict[str, SuiteResult]
    baseline: Baseline

    @property
    def passed(self) -> bool:
        return all(r.success for r in self.results.values())


def refresh_live_tables(live_dir: Path | str, salt: str, run_id: str) -> LiveRefresh:
    """Rebuild the live tables from the live rows and the baseline, then run their suites; each
    result is stored for `run_id` (what `publish_live` reads back)."""
    baseline = require_baseline(live_dir)
    with live_lock(live_dir), connect(live_db_path(live_dir)) as con:
        tables = build_live_tables(con, baseline, salt)
        results = {
            t: validate_live(con, t, as_of=tables.live_days[-1] if tables.live_days else None)
            for t in LIVE_TABLES
        }
        _store_results(con, run_id, results)
    return LiveRefresh(tables, results, baseline)


def _store_results(con: duckdb.DuckDBPyConnection, run_id: str, results: dict[str, SuiteResult]):
    con.execute("create schema if not exists intraday")
    con.execute(
        f"create table if not exists {VALIDATION_TABLE} (run_id varchar, table_name varchar, "
        "passed boolean, failed_expectations bigint, reason varchar, validated_at timestamp)"
    )
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con.execute(
        f"delete from {VALIDATION_TABLE} where validated_at < ?", [now - dt.timedelta(days=7)]
    )
    for table, r in results.items():
        con.execute(
            f"insert into {VALIDATION_TABLE} values (?, ?, ?, ?, ?, ?)",
            [run_id, table, r.success, r.n_failed, None if r.success else failure_line(r), now],
        )


def validation_summary(live_dir: Path | str, run_id: str) -> dict[str, dict]:
    """Each live table's suite result of `run_id`, as publication's check summary; a table
    whose suite did not run in that run is not passed."""
    with connect(live_db_path(live_dir), read_only=True) as con:
        try:
            rows = con.execute(
                f"select table_name, passed, failed_expectations, reason from {VALIDATION_TABLE} "
                "where run_id = ?",
                [run_id],
            ).fetchall()
        except duckdb.CatalogException:
            rows = []
    found = {
        t: {"passed": bool(p), "failed_expectations": int(n), **({"reason": r} if r else {})}
        for t, p, n, r in rows
    }
    return {
        t: found.get(t, {"passed": False, "reason": "suite did not run in this run"})
        for t in LIVE_TABLES
    }


def publish_live(live_dir: Path | str, run_id: str, keep_versions: int = 3) -> Publication:
    """Publish the live tables when every suite of `run_id` passed (else LiveError, the attempt
    logged as blocked and nothing live changed)."""
    summary = validation_summary(live_dir, run_id)
    failed = sorted(t for t, s in summary.items() if not s["passed"])
    if failed:
        publog.record_blocked(versions_dir(live_dir), run_id=run_id, check_summary=summary)
        reasons = "; ".join(summary[t].get("reason", "failed") for t in failed)
        raise LiveError(f"live publication blocked, the previous one stays: {reasons}")
    with live_lock(live_dir):
        return publish(
            live_db_path(live_dir),
            LIVE_TABLES,
            serving_path=serving_path(live_dir),
            published_dir=published_dir(live_dir),
            versions_dir=versions_dir(live_dir),
            run_id=run_id,
            check_summary=summary,
            keep_versions=keep_versions,
            partition_by={},
        )

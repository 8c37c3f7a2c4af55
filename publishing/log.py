"""The publication log: one JSON line per publish, rollback, blocked or failed attempt.

Lives at ``<versions_dir>/publication_log.jsonl``. Lines are appended with one ``write`` on a file
opened with ``O_APPEND`` and fsynced, so a crash leaves at most a last line that ``read_log``
skips. Versions are pruned; the log is not, so it is the history of every publication.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["LOG_FILE", "append_log", "read_log", "record_blocked"]

LOG_FILE = "publication_log.jsonl"

# Event names written to the log.
PUBLISHED = "published"
ROLLED_BACK = "rolled_back"
BLOCKED = "blocked"
FAILED = "failed"


def utc_now() -> datetime:
    return datetime.now(UTC)


def log_path(versions_dir: Path | str) -> Path:
    return Path(versions_dir) / LOG_FILE


def append_log(versions_dir: Path | str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """Append one event (``event`` key required) and return it as written, with ``logged_at``."""
    if "event" not in entry:
        raise ValueError("a publication log entry needs an 'event' key")
    record = {"logged_at": utc_now().isoformat(), **entry}
    path = log_path(versions_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, default=str, ensure_ascii=False, sort_keys=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return record


def read_log(versions_dir: Path | str, *, event: str | None = None) -> list[dict[str, Any]]:
    """Every logged event, oldest first; ``event`` filters on the event name."""
    path = log_path(versions_dir)
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
        if event is None or record.get("event") == event:
            records.append(record)
    return records


def failed_checks(check_summary: Mapping[str, Any] | None) -> list[str]:
    """Names of the failed checks in a check summary.

    Accepts ``{"failed": [names...]}``, or ``{check_name: {"passed": bool, ...}}``, or
    ``{check_name: bool}``.
    """
    if not check_summary:
        return []
    if isinstance(check_summary.get("failed"), list | tuple):
        return [str(name) for name in check_summary["failed"]]
    names = []
    for name, result in check_summary.items():
        passed = result.get("passed") if isinstance(result, Mapping) else result
        if passed is False:
            names.append(str(name))
    return names


def record_blocked(
    versions_dir: Path | str, *, run_id: str, check_summary: Mapping[str, Any]
) -> dict[str, Any]:
    """Log that a run did not publish because blocking checks failed; touches nothing published.

    Returns the entry, whose ``failed_checks`` lists the failed checks so the caller can report
    them in its run.
    """
    return append_log(
        versions_dir,
        {
            "event": BLOCKED,
            "run_id": run_id,
            "failed_checks": failed_checks(check_summary),
            "check_summary": dict(check_summary),
        },
    )

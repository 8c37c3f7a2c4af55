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

__all__ = [
    "LOG_FILE",
    "append_log",
    "failure_reasons",
    "format_record",
    "read_log",
    "record_blocked",
]

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
    return list(failure_reasons(check_summary))


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())


def failure_reasons(check_summary: Mapping[str, Any] | None) -> dict[str, str]:
    """Each failed check of a check summary with why it failed, in one line.

    The reason is the check's ``reason`` (or ``error``) entry; failing that, its other entries
    (``failed_expectations=3``); a bare ``False`` or a name in ``{"failed": [...]}`` is
    ``failed``.
    """
    if not check_summary:
        return {}
    if isinstance(check_summary.get("failed"), list | tuple):
        return {str(name): "failed" for name in check_summary["failed"]}
    reasons = {}
    for name, result in check_summary.items():
        if isinstance(result, Mapping):
            if result.get("passed") is not False:
                continue
            why = (
                result.get("reason")
                or result.get("error")
                or ", ".join(f"{k}={v}" for k, v in result.items() if k != "passed")
            )
            reasons[str(name)] = _one_line(why) or "failed"
        elif result is False:
            reasons[str(name)] = "failed"
    return reasons


def record_blocked(
    versions_dir: Path | str, *, run_id: str, check_summary: Mapping[str, Any]
) -> dict[str, Any]:
    """Log that a run did not publish because blocking checks failed; touches nothing published.

    ``check_summary``: ``{check_name: {"passed": bool, "reason": "one line"}}`` (other forms as in
    ``failure_reasons``). Returns the entry, whose ``failed_checks`` lists the failed checks and
    ``reasons`` maps each to why, so the caller can report them in its run; ``siyu publish --log``
    shows one line per failed check.
    """
    reasons = failure_reasons(check_summary)
    return append_log(
        versions_dir,
        {
            "event": BLOCKED,
            "run_id": run_id,
            "failed_checks": list(reasons),
            "reasons": reasons,
            "check_summary": dict(check_summary),
        },
    )


def format_record(record: Mapping[str, Any]) -> list[str]:
    """A log record as the lines ``siyu publish --log`` prints: one headline, and for a blocked
    attempt one indented line per failed check with its reason."""
    event = str(record.get("event", "?"))
    head = [str(record.get("logged_at", ""))[:19].replace("T", " "), f"{event:<11}"]
    if record.get("version"):
        head.append(str(record["version"]))
    if record.get("run_id"):
        head.append(f"run={record['run_id']}")
    lines = []
    if event == PUBLISHED:
        counts = record.get("row_counts") or {}
        head.append(f"{len(counts)} tables, {sum(counts.values()):,} rows")
        if record.get("postgres_schema"):
            readers = ", ".join(record.get("postgres_readers") or []) or "none"
            head.append(f"PostgreSQL {record['postgres_schema']} (readers: {readers})")
    elif event == ROLLED_BACK:
        head.append(f"from {record.get('from_version') or 'nothing'}")
        if record.get("postgres_schema"):
            readers = ", ".join(record.get("postgres_readers") or []) or "none"
            head.append(f"PostgreSQL reloaded (readers: {readers})")
    elif event == BLOCKED:
        # records from before reasons were logged: from the stored summary, else the names
        reasons = (
            record.get("reasons")
            or failure_reasons(record.get("check_summary"))
            or {name: "failed" for name in record.get("failed_checks") or []}
        )
        head.append(
            f"{len(reasons)} failed check{'s' if len(reasons) != 1 else ''}, nothing published:"
        )
        lines = [f"    {name}: {_one_line(why)}" for name, why in reasons.items()]
    elif event == FAILED:
        head.append(_one_line(record.get("error", "")))
        if "live_version" in record:
            head.append(f"(live stays {record['live_version'] or 'nothing'})")
    return ["  ".join(head), *lines]

"""A pytest plugin that tabulates the fault-injection suite: `siyu faults` runs the fault tests
with `-p tests.faults.table --fault-table <path>` and prints the table this writes.

Each test marked `@pytest.mark.fault("<kind>")` is one fault tried; it survived when its setup,
call and teardown all passed. `rows_lost` is the test's user property of that name (the landing
trees' ledger, tests/faults/conftest.py, or a pipeline test's comparison with its clean reference).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

_RESULTS: dict[str, dict] = {}


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--fault-table",
        default=None,
        help="write the fault suite's results (JSON) here and its markdown table beside it",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Runs where the test runs (an xdist worker too): the fault kind travels with the report."""
    outcome = yield
    marker = item.get_closest_marker("fault")
    if marker is not None:
        outcome.get_result().user_properties.append(
            ("fault_kind", marker.args[0] if marker.args else "other")
        )


def pytest_runtest_logreport(report) -> None:
    """Runs in the controlling process, where the session ends and the table is written."""
    properties = dict(report.user_properties)
    if "fault_kind" not in properties:
        return
    entry = _RESULTS.setdefault(
        report.nodeid,
        {
            "test": report.nodeid,
            "kind": properties["fault_kind"],
            "survived": True,
            "seconds": 0.0,
            "rows_lost": None,
        },
    )
    entry["seconds"] += report.duration
    if report.failed or (report.skipped and report.when == "call"):
        entry["survived"] = False  # a skipped fault is not survived, only not tried
    if properties.get("rows_lost") is not None:
        entry["rows_lost"] = properties["rows_lost"]


def summarise(results: list[dict]) -> list[dict]:
    """One row per kind: faults tried, survived, failed, rows lost (over the tests that count)."""
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for r in results:
        by_kind[r["kind"]].append(r)
    rows = []
    for kind in sorted(by_kind):
        group = by_kind[kind]
        counted = [r["rows_lost"] for r in group if r["rows_lost"] is not None]
        rows.append(
            {
                "kind": kind,
                "tried": len(group),
                "survived": sum(r["survived"] for r in group),
                "failed": sum(not r["survived"] for r in group),
                "rows_lost": sum(counted) if counted else None,
                "rows_counted_in": len(counted),
                "seconds": round(sum(r["seconds"] for r in group), 1),
            }
        )
    return rows


def markdown(rows: list[dict]) -> str:
    head = "| fault kind | tried | survived | failed | rows lost (tests counting) | seconds |"
    lines = [head, "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lost = "-" if r["rows_lost"] is None else f"{r['rows_lost']} ({r['rows_counted_in']})"
        lines.append(
            f"| {r['kind']} | {r['tried']} | {r['survived']} | {r['failed']} | {lost} "
            f"| {r['seconds']} |"
        )
    total = {k: sum(r[k] for r in rows) for k in ("tried", "survived", "failed")}
    lost = sum(r["rows_lost"] or 0 for r in rows)
    counted = sum(r["rows_counted_in"] for r in rows)
    lines.append(
        f"| **all** | {total['tried']} | {total['survived']} | {total['failed']} "
        f"| {lost} ({counted}) | {round(sum(r['seconds'] for r in rows), 1)} |"
    )
    return "\n".join(lines)


def pytest_sessionfinish(session, exitstatus) -> None:
    target = session.config.getoption("--fault-table")
    if not target:
        return
    results = sorted(_RESULTS.values(), key=lambda r: (r["kind"], r["test"]))
    rows = summarise(results)
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"kinds": rows, "tests": results}, indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    path.with_suffix(".md").write_text(markdown(rows) + "\n", encoding="utf-8")

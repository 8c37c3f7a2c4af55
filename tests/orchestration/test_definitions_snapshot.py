"""Every asset key, asset check (asset, name, blocking), job, schedule and sensor of the built
definitions, against the checked-in definitions_snapshot.txt: a rename, a lost check or a check
that stopped blocking shows in review. After an intended change:

    SIYU_UPDATE_SNAPSHOT=1 .venv/bin/pytest tests/orchestration/test_definitions_snapshot.py
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import dagster as dg

from tests.conftest import make_settings

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.txt")
# read at import: tests/conftest.py clears every SIYU_ variable before each test
UPDATE_SNAPSHOT = os.environ.get("SIYU_UPDATE_SNAPSHOT") == "1"


def definitions_snapshot(defs: dg.Definitions) -> str:
    assets, checks = set(), set()
    for item in defs.assets or []:
        if isinstance(item, dg.AssetsDefinition):
            assets |= {key.to_user_string() for key in item.keys}
            checks |= {_check_line(spec) for spec in item.check_specs}
    for item in defs.asset_checks or []:
        checks |= {_check_line(spec) for spec in item.check_specs}
    jobs = {job.name for job in defs.jobs or []}
    schedules = {
        f"{s.name} | {s.cron_schedule} | {s.execution_timezone} | {s.default_status.value}"
        for s in defs.schedules or []
    }
    sensors = {f"{s.name} | {s.default_status.value}" for s in defs.sensors or []}
    sections = [
        ("assets", assets),
        ("asset checks (asset | check | blocking)", checks),
        ("jobs", jobs),
        ("schedules (name | cron | timezone | default status)", schedules),
        ("sensors (name | default status)", sensors),
    ]
    lines = []
    for title, entries in sections:
        lines.append(f"# {title}: {len(entries)}")
        lines.extend(sorted(entries))
        lines.append("")
    return "\n".join(lines)


def _check_line(spec: dg.AssetCheckSpec) -> str:
    blocking = "blocking" if spec.blocking else "non-blocking"
    return f"{spec.asset_key.to_user_string()} | {spec.name} | {blocking}"


def test_definitions_match_the_checked_in_snapshot(tmp_path):
    from orchestration.definitions import build_definitions

    current = definitions_snapshot(build_definitions(make_settings(tmp_path)))
    if UPDATE_SNAPSHOT:
        SNAPSHOT.write_text(current, encoding="utf-8")
    expected = SNAPSHOT.read_text(encoding="utf-8") if SNAPSHOT.exists() else ""
    diff = "\n".join(
        difflib.unified_diff(
            expected.splitlines(), current.splitlines(), "checked in", "built", lineterm=""
        )
    )
    assert current == expected, (
        f"the definitions changed; if intended, regenerate {SNAPSHOT.name} with "
        f"SIYU_UPDATE_SNAPSHOT=1 and review the diff:\n{diff}"
    )


def test_the_snapshot_names_what_it_must():
    text = SNAPSHOT.read_text(encoding="utf-8")
    assert "\nraw/extracts\n" in text
    assert (
        "intermediate/int_identity__components | assert_identity_components_converged | blocking"
        in text
    )
    assert "\nalert_on_run_failure | RUNNING\n" in text
    assert "\ndaily\n" in text

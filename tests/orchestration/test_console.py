"""`siyu run` in a subprocess on a small generated brand: a short console that ends with the
summary, the full log in a file, and `-v` for Dagster's and dbt's whole output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAX_QUIET_LINES = 100
SUMMARY_START = re.compile(r"^siyu run: (published |NOT published|nothing published)")


def _siyu(data_dir: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIYU_", "DAGSTER_"))}
    env.update(
        SIYU_DATA_DIR=str(data_dir),
        SIYU_START_DATE="2026-05-01",
        DBT_TARGET_PATH=str(data_dir / "dbt_target"),
    )
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("console")
    generated = _siyu(
        data_dir, "generate", "--persons", "300", "--days", "20", "--start", "2026-05-01",
        "--seed", "11", "--out", str(data_dir / "landing"),
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    quiet = _siyu(data_dir, "run")
    verbose = _siyu(data_dir, "run", "--date", "2026-05-20", "-v")
    return data_dir, quiet, verbose


def _lines(completed: subprocess.CompletedProcess) -> list[str]:
    return (completed.stdout + completed.stderr).splitlines()


def test_a_quiet_run_prints_at_most_100_lines_and_ends_with_the_summary(runs):
    _, quiet, _ = runs
    lines = _lines(quiet)
    assert quiet.returncode == 0, "\n".join(lines[-30:])
    assert len(lines) <= MAX_QUIET_LINES, "\n".join(lines)
    # every line is the platform's own, one per step or message: no Dagster or dbt log lines
    assert all(line.startswith("siyu run:") for line in lines), "\n".join(lines)
    starts = [i for i, line in enumerate(lines) if SUMMARY_START.match(line)]
    assert starts, "\n".join(lines)
    summary = lines[starts[-1] :]
    assert summary[0].startswith("siyu run: published ")
    assert all(line.startswith("siyu run:   ") for line in summary[1:]), "\n".join(summary)
    assert any("serving DuckDB" in line for line in summary)
    # progress: one line per finished step, with its time
    assert any(re.match(r"siyu run:   ok +siyu_dbt \(\d+\.\d s\)", line) for line in lines)
    text = "\n".join(lines)
    for noise in ("BetaWarning", "PreviewWarning", "DeprecationWarning", "STEP_START", "PASS="):
        assert noise not in text


def test_the_full_log_of_a_quiet_run_is_kept_in_the_data_folder(runs):
    data_dir, quiet, _ = runs
    [named] = [line for line in _lines(quiet) if "full log" in line]
    log_path = Path(named.split(" in ", 1)[1].strip())
    assert log_path.parent == data_dir / "logs"
    log = log_path.read_text(encoding="utf-8")
    assert "STEP_SUCCESS" in log  # Dagster's events
    assert "Done. PASS=" in log  # dbt's own output


def test_verbose_prints_dagster_and_dbt_in_full(runs):
    _, quiet, verbose = runs
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    verbose_lines = _lines(verbose)
    # a one-day daily run with -v says more than the quiet first run (three runs) did
    assert len(verbose_lines) > 3 * len(_lines(quiet))
    text = "\n".join(verbose_lines)
    assert "STEP_SUCCESS" in text and "Done. PASS=" in text
    assert any(SUMMARY_START.match(line) for line in verbose_lines[-6:]), text[-2000:]

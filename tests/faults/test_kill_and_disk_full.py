"""kill -9 in each phase, a full disk, a failed gate (issue 15): the served files are never
damaged, and the rerun of the day, with no manual clean-up, publishes what a clean run publishes.

A small brand (150 persons, 12 days, CRM + WeCom + mini-program) is generated once and days 1..11
are built with `siyu run --end 2026-05-11` into a baseline data folder. Every case works on its
own copy of that folder and runs `siyu run --date 2026-05-12` as a real subprocess (its own
process group, Dagster home and dbt target folder); a clean run of day 12 on another copy is the
reference. Published tables are compared row by row, ignoring only the per-run stamps listed in
tests/faults/pipeline.py (PER_RUN_COLUMNS, each with its reason).

Each run of day 12 costs about two minutes on a 2-core machine (three Dagster runs: the marts,
the model training a brand without a promoted model does every run, scoring to publication), so
this module takes far longer than the four minutes the issue hoped for: see the report of issue 15.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from ingestion.entities import ENTITIES
from tests.faults.pipeline import (
    SIYU,
    Run,
    assert_served_whole,
    copy_data,
    differences,
    published_parquet,
    published_tables,
    rows_lost,
    served_fingerprint,
    siyu_env,
    siyu_run,
)

pytestmark = [pytest.mark.fault("crash and disk"), pytest.mark.slow]

DAY = "2026-05-12"
RUN_DAY = ["run", "--date", DAY]


@dataclass
class Brand:
    base: Path  # days 1..11 built; never run on
    root: Path
    _reference: Run | None = None
    _tables: dict | None = None

    def case(self, name: str) -> tuple[Path, dict[str, str]]:
        """A fresh copy of the baseline and the environment of a run on it."""
        data = copy_data(self.base, self.root / name / "data")
        return data, siyu_env(data, self.root / name / "dbt-target")

    def reference(self) -> dict:
        """The published tables of a clean `siyu run --date 2026-05-12` (started by the fixture,
        waited for on first use)."""
        if self._tables is None:
            code = self._reference.finish()
            assert code == 0, self._reference.tail()
            self._tables = published_tables(self.root / "reference" / "data")
        return self._tables


@pytest.fixture(scope="module")
def brand(tmp_path_factory) -> Brand:
    root = tmp_path_factory.mktemp("kill_and_disk_full")
    base = root / "base"
    landing = base / "landing"
    subprocess.run(
        [SIYU, "generate", "--persons", "150", "--days", "12", "--start", "2026-05-01",
         "--seed", "7", "--out", str(landing), "--no-progress"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    code, run = siyu_run(["run", "--end", "2026-05-11"], siyu_env(base, root / "base-target"))
    assert code == 0, run.tail()
    brand = Brand(base=base, root=root)
    data, env = brand.case("reference")
    # the reference runs while the first case starts (two cores)
    brand._reference = Run.start(RUN_DAY, env)
    return brand


def assert_rerun_equals_reference(brand: Brand, data: Path, env, record_property) -> None:
    code, rerun = siyu_run(RUN_DAY, env)
    assert code == 0, f"the rerun failed (no manual clean-up was done):\n{rerun.tail()}"
    assert any(line.startswith("siyu run: published v") for line in rerun.lines), rerun.tail()
    got = published_tables(data)
    reference = brand.reference()
    record_property("rows_lost", rows_lost(reference, got))
    assert differences(reference, got) == []
    assert rows_lost(reference, got) == 0
    # the Parquet folder serves the same version, row for row
    assert differences(got, published_parquet(data)) == []


# -- kill -9 in each phase -----------------------------------------------------------------------


def _step_start(step: str):
    return lambda line: "STEP_START" in line and f'"{step}"' in line


def _publication_staging(data: Path) -> list[Path]:
    return [p for p in (data / "publications").glob(".staging-*/parquet/*.parquet")]


@dataclass(frozen=True)
class Phase:
    name: str
    inside: object  # predicate on a stderr line: the run is now inside the phase
    done: str  # a stderr text that, seen before the kill, means the phase was already over
    settle: float = 0.0  # seconds to wait after `inside` (a long phase: audit)


PHASES = [
    # raw/extracts has loaded its 5th of 12 extracts (one log line each): some raw tables hold
    # day 12, the others do not yet
    Phase("ingest", lambda line: f"raw.{ENTITIES[4].table}: " in line and "rows loaded" in line, '"siyu_dbt"'),
    # dbt has rebuilt dim_users and is building the other marts (kpi_daily comes last)
    Phase(
        "dbt",
        lambda line: " siyu_dbt - ASSET_MATERIALIZATION" in line and "marts dim_users." in line,
        'Finished execution of step "siyu_dbt"',
    ),
    # scoring: the segments are being written to the warehouse
    Phase("models", _step_start("ml__user_segments"), '"siyu_dbt_after_ml"'),
    # (no case for the audit: the gate only reads the build database and writes its results with
    # the publication; a kill there is a kill between the models and the publication)
    # the publication step lasts under a second: the kill waits for its staging folder (below)
    Phase("publish", _step_start("serving__publication"), "siyu run: published v"),
]  # fmt: skip


@pytest.mark.parametrize("phase", PHASES, ids=lambda p: p.name)
def test_kill_9_in_a_phase_then_the_rerun_equals_a_clean_run(brand, phase, record_property):
    data, env = brand.case(f"kill-{phase.name}")
    before = served_fingerprint(data)
    run = Run.start(RUN_DAY, env)
    run.wait_for(phase.inside)
    if phase.settle:
        time.sleep(phase.settle)
    if phase.name == "publish":
        # mid-build of the new version: its first Parquet file is in the staging folder
        deadline = time.monotonic() + 60
        while not _publication_staging(data) and time.monotonic() < deadline:
            time.sleep(0.002)
    staging = _publication_staging(data)
    run.kill()
    assert run.proc.returncode == -9
    # every line the run wrote before it died has been read: none says the phase was over
    assert not run.seen(phase.done), f"the kill came after the {phase.name} phase:\n{run.tail()}"
    if phase.name == "publish":
        assert staging, "the kill came before the publication staged anything"
    # the lock holder is gone but its pid is still in the lock file
    assert (data / ".siyu-run.lock").read_text().strip() == str(run.proc.pid)

    # what is served is the previous publication, untouched, or one whole new one
    state = assert_served_whole(data, before)
    assert state == "old", "a killed run cannot have published"
    if phase.name == "ingest":
        assert _raw_days_loaded(data) not in (0, 12), "the kill left no half-loaded day"

    assert_rerun_equals_reference(brand, data, env, record_property)


def _raw_days_loaded(data: Path) -> int:
    """How many raw tables hold rows of day 12, read from a copy of the killed warehouse (and
    its WAL) so the rerun finds the files exactly as the kill left them."""
    copy = data.parent / "inspect"
    copy.mkdir()
    for name in ("warehouse.duckdb", "warehouse.duckdb.wal"):
        if (data / name).exists():
            shutil.copy2(data / name, copy / name)
    with duckdb.connect(str(copy / "warehouse.duckdb")) as con:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw' "
                "and table_name not like '\\_%' escape '\\'"
            ).fetchall()
        ]
        loaded = sum(
            con.execute(
                f'select count(*) > 0 from raw."{t}" where _partition_date = ?', [DAY]
            ).fetchone()[0]
            for t in tables
        )
    shutil.rmtree(copy)
    return loaded


# -- a full disk during publication ----------------------------------------------------------------


def _mount_tmpfs(path: Path, size_bytes: int) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(path)],
        capture_output=True,
    )
    return done.returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def test_a_full_disk_during_publication_fails_in_one_line_and_serves_the_old_files(
    brand, record_property
):
    data, env = brand.case("disk-full-publication")
    before = served_fingerprint(data)
    versions = data / "publications"
    version_bytes = max(_tree_bytes(p) for p in versions.iterdir() if p.is_dir())
    # the publications folder (where a version is staged, then made live) on its own tmpfs:
    # room for everything already published, not for a new version
    aside = data.parent / "publications-aside"
    versions.rename(aside)
    if not _mount_tmpfs(versions, 64 * 1024 * 1024):
        aside.rename(versions)
        pytest.skip(
            "cannot mount a tmpfs here; RLIMIT_FSIZE cannot stand in for it: it limits each "
            "file, and the warehouse the run must grow is larger than the publication"
        )
    try:
        shutil.copytree(aside, versions, symlinks=True, dirs_exist_ok=True)
        assert served_fingerprint(data) == before
        filler = versions / "filler"
        free = os.statvfs(versions).f_bavail * os.statvfs(versions).f_frsize
        with open(filler, "wb") as handle:
            handle.write(b"\0" * (free - version_bytes // 2))

        code, run = siyu_run(RUN_DAY, env)
        assert code != 0
        failed = [line for line in run.siyu_lines() if "serving__publication failed" in line]
        assert failed, run.tail()
        assert "No space left on device" in failed[0], failed[0]
        assert str(versions) in failed[0], failed[0]
        assert "NOT published" in run.tail(), run.tail()
        assert served_fingerprint(data) == before
        assert not list(versions.glob(".staging-*")), "a half-built version was left"

        filler.unlink()  # space freed: the rerun publishes
        assert_rerun_equals_reference(brand, data, env, record_property)
        assert assert_served_whole(data, before) == "new"
    finally:
        _umount(versions)


# -- a failed gate ---------------------------------------------------------------------------------


def test_a_landed_member_registered_tomorrow_fails_the_gate_and_serves_the_old_files(
    brand, record_property
):
    """A CRM member registered at 23:30 the next day: the loader accepts it (a time at most one
    day after its partition day is clock skew it tolerates), but dim_users' freshness
    expectation (first_seen_at at most a day after the data's last day) blocks publication."""
    data, env = brand.case("failed-gate")
    members = data / "landing" / "crm" / DAY / "members.csv"
    with open(members, "a", encoding="utf-8") as handle:
        handle.write(
            "M0009999,钱多多,13912345678,2026-05-13 23:30:00,门店,普通会员,,北京,是,,"
            "2026-05-13 23:30:00\n"
        )
    before = served_fingerprint(data)
    published_before = published_tables(data)
    code, run = siyu_run(RUN_DAY, env)
    assert code != 0, run.tail()
    text = "\n".join(run.siyu_lines())
    assert "check audit/quality_gate:dim_users_suite failed" in text, text
    assert "first_seen_at" in text, text
    assert "NOT published" in text and "blocked by: check audit/quality_gate:" in text, text
    assert served_fingerprint(data) == before
    record_property("rows_lost", rows_lost(published_before, published_tables(data)))


# -- kill -9 between the two symlink swaps of a publication ----------------------------------------


def test_kill_9_between_the_parquet_and_the_duckdb_swap(brand, record_property):
    """The publication makes a version live with two renames, Parquet folder first, DuckDB file
    last, a directory fsync apart: too short a window to hit with a signal from outside. strace,
    attached once the publication step starts, delays the exit of every rename(2) of the run by
    3 s (the syscall itself is done), which holds the run inside that window; the kill comes when
    the Parquet link has switched. Each served path must still be one whole version (the DuckDB
    file the old one, byte for byte; the Parquet folder the new one, every file complete), and
    the rerun puts both on one new version equal to the reference."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    data, env = brand.case("kill-between-swaps")
    before = served_fingerprint(data)
    run = Run.start(RUN_DAY, env)
    run.wait_for(_step_start("serving__publication"))
    tids = sorted(os.listdir(f"/proc/{run.proc.pid}/task"))
    tracer = subprocess.Popen(
        ["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=rename,renameat,renameat2",
         "-e", "inject=rename,renameat,renameat2:delay_exit=3000000",
         *[arg for tid in tids for arg in ("-p", tid)]],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while os.readlink(data / "published") == before["published_link"]:
            if time.monotonic() > deadline or run.proc.poll() is not None:
                pytest.fail(f"the Parquet link never switched:\n{run.tail()}")
            if tracer.poll() is not None:
                pytest.skip(f"strace cannot attach here: {tracer.stderr.read().strip()}")
            time.sleep(0.001)
        serving_link = os.readlink(data / "serving.duckdb")
        run.kill()
    finally:
        tracer.kill()
        tracer.wait()
    assert serving_link == before["serving_link"], "the kill came after the DuckDB swap"

    now = served_fingerprint(data)
    # the DuckDB file, the version of record, is the old one byte for byte
    assert now["serving_link"] == before["serving_link"]
    assert now["serving_sha256"] == before["serving_sha256"]
    assert not now["serving_wal"]
    # the Parquet folder is one whole new version: every table, every row its manifest counts
    parquet_dir = (data / "published").resolve()
    manifest = json.loads((parquet_dir.parent / "manifest.json").read_text(encoding="utf-8"))
    parquet = published_parquet(data)
    assert set(parquet) == set(manifest["row_counts"]) | {"_publication"}
    for table, rows in manifest["row_counts"].items():
        assert len(parquet[table]) == rows, table
    record_property("paths_on_different_versions_until_rerun", True)

    assert_rerun_equals_reference(brand, data, env, record_property)
    assert assert_served_whole(data, before) == "new"

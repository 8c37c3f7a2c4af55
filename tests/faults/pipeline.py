"""Real `siyu run` subprocesses for the crash and disk-full cases (issue 15): start one, watch its
stderr until it is inside a phase, SIGKILL its whole process tree, fingerprint what is served and
compare published marts with a reference run.

Nothing here imports the platform: every run is `.venv/bin/siyu` in its own process group, with
its own data folder, Dagster home (`<data>/dagster_home`) and dbt target folder.
"""

from __future__ import annotations

import hashlib
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
SIYU = str(Path(sys.executable).parent / "siyu")
SALT = "faults-kill-salt"
START = "2026-05-01"

# Columns that are stamps of one run, not data; each is ignored when a rerun is compared with the
# reference, for the reason given:
PER_RUN_COLUMNS = {
    # the version name holds its sequence number and UTC publication time
    "*": {"publication_version"},
    # `<name>-vNNNN-<UTC training time>`: a new version is trained on every bootstrap run, and a
    # killed run that got past training already used a sequence number
    "user_segments": {"model_version"},
    "user_churn_scores": {"model_version"},
    # wall-clock time the forecast was fitted
    "registration_forecast": {"generated_at"},
}
# marts._publication describes the publication itself (version, time, run id, check summary);
# its row_counts are compared separately, as the published row counts.
STAMP_TABLES = {"_publication"}


def siyu_env(data: Path, dbt_target: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_") and k != "DAGSTER_HOME"}
    env.update(
        SIYU_DATA_DIR=str(data),
        SIYU_HASH_SALT=SALT,
        SIYU_START_DATE=START,
        DBT_TARGET_PATH=str(dbt_target),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class Run:
    """A `siyu run` subprocess whose stderr lines are collected as they come."""

    proc: subprocess.Popen
    lines: list[str] = field(default_factory=list)
    _queue: queue.Queue = field(default_factory=queue.Queue)
    _reader: threading.Thread | None = None

    @classmethod
    def start(cls, args: list[str], env: dict[str, str], preexec_fn=None) -> Run:
        if args[:1] == ["run"]:
            # the cases wait for Dagster's own step lines (STEP_START ...), which only the
            # verbose console prints
            args = ["run", "-v", *args[1:]]
        proc = subprocess.Popen(
            [SIYU, *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,  # its own process group: dbt is killed with it
            preexec_fn=preexec_fn,
        )
        run = cls(proc)
        run._reader = threading.Thread(target=run._read, daemon=True)
        run._reader.start()
        return run

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 600) -> str:
        """Block until a stderr line matches; the line. Fails if the run ends first."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting; last lines:\n{self.tail()}")
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait()
                raise AssertionError(
                    f"siyu run ended (exit {self.proc.returncode}) before the awaited line:\n"
                    f"{self.tail()}"
                )
            if predicate(line):
                return line

    def seen(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def kill(self) -> None:
        """SIGKILL every process of the run (its process group, and any descendant that left
        it), then reap it."""
        victims = _descendants(self.proc.pid)
        with _suppress_gone():
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in victims:
            with _suppress_gone():
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=60)
        self._reader.join(timeout=30)  # every line written before the kill, none after
        deadline = time.monotonic() + 30
        while any(_alive(p) for p in victims) and time.monotonic() < deadline:
            time.sleep(0.05)

    def finish(self, timeout: float = 900) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=30)  # every line the run wrote before it exited
        return code

    def siyu_lines(self) -> list[str]:
        return [line for line in self.lines if line.startswith("siyu")]

    def tail(self, n: int = 25) -> str:
        siyu = self.siyu_lines()
        return "\n".join((siyu or self.lines)[-n:])


class _suppress_gone:
    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        return kind is not None and issubclass(kind, ProcessLookupError | PermissionError)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, IndexError, ValueError, ProcessLookupError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def siyu_run(args: list[str], env: dict[str, str], timeout: float = 900) -> tuple[int, Run]:
    run = Run.start(args, env)
    return run.finish(timeout), run


def copy_data(src: Path, dst: Path) -> Path:
    """A copy of a data folder (symlinks kept: serving.duckdb and published point into it)."""
    shutil.copytree(src, dst, symlinks=True)
    return dst


# -- what is served ------------------------------------------------------------------------------


def served_fingerprint(data: Path) -> dict[str, object]:
    """Where the two served paths point and the sha256 of every byte behind them."""
    serving, published = data / "serving.duckdb", data / "published"
    out: dict[str, object] = {
        "serving_link": os.readlink(serving),
        "published_link": os.readlink(published),
        "serving_sha256": _sha256(serving),
    }
    for parquet in sorted(published.iterdir()):
        out[f"parquet/{parquet.name}"] = _sha256(parquet)
    wal = serving.with_name(serving.name + ".wal")
    out["serving_wal"] = wal.exists()
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def version_of(link: str) -> str:
    """The publication version a served symlink points into (publications/<version>/...)."""
    return Path(link).parts[-2]


def published_tables(data: Path) -> dict[str, pd.DataFrame]:
    """Every table of the served DuckDB file (opened read-only), per-run columns dropped, rows
    in a canonical order."""
    with duckdb.connect(str(data / "serving.duckdb"), read_only=True) as con:
        names = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' "
                "order by 1"
            ).fetchall()
        ]
        return {t: canonical(t, con.execute(f'select * from marts."{t}"').df()) for t in names}


def published_parquet(data: Path) -> dict[str, pd.DataFrame]:
    """Every Parquet file of the served folder, like published_tables."""
    with duckdb.connect() as con:
        return {
            p.stem: canonical(p.stem, con.execute("select * from read_parquet(?)", [str(p)]).df())
            for p in sorted((data / "published").glob("*.parquet"))
        }


def canonical(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    ignored = PER_RUN_COLUMNS["*"] | PER_RUN_COLUMNS.get(table, set())
    frame = frame.drop(columns=[c for c in frame.columns if c in ignored])
    if frame.empty:
        return frame.reset_index(drop=True)
    keyed = frame.astype(str)
    order = keyed.sort_values(list(keyed.columns)).index
    return frame.loc[order].reset_index(drop=True)


def publication_row_counts(data: Path) -> dict[str, int]:
    import json

    with duckdb.connect(str(data / "serving.duckdb"), read_only=True) as con:
        return json.loads(con.execute("select row_counts from marts._publication").fetchone()[0])


def differences(reference: dict[str, pd.DataFrame], got: dict[str, pd.DataFrame]) -> list[str]:
    """What differs between two sets of published tables, row by row ([] when equal)."""
    problems = []
    for table in sorted(set(reference) | set(got)):
        if table in STAMP_TABLES:
            continue
        if table not in got:
            problems.append(f"{table}: missing")
            continue
        if table not in reference:
            problems.append(f"{table}: not in the reference")
            continue
        a, b = reference[table], got[table]
        if list(a.columns) != list(b.columns):
            problems.append(f"{table}: columns {list(b.columns)} != {list(a.columns)}")
            continue
        if len(a) != len(b):
            problems.append(f"{table}: {len(b)} rows, reference {len(a)}")
            continue
        try:
            pd.testing.assert_frame_equal(a, b, check_dtype=True, check_exact=True)
        except AssertionError as exc:
            problems.append(f"{table}: {' '.join(str(exc).split())[:400]}")
    return problems


def rows_lost(reference: dict[str, pd.DataFrame], got: dict[str, pd.DataFrame]) -> int:
    """Reference rows (whole rows, per-run columns aside) missing from `got`, over every table."""
    lost = 0
    for table, ref in reference.items():
        if table in STAMP_TABLES:
            continue
        mine = got.get(table)
        if mine is None or list(mine.columns) != list(ref.columns):
            lost += len(ref)
            continue
        want = ref.astype(str).value_counts()
        have = mine.astype(str).value_counts()
        lost += int((want - have.reindex(want.index, fill_value=0)).clip(lower=0).sum())
    return lost


def assert_served_whole(data: Path, before: dict[str, object]) -> str:
    """The served files are byte-identical to `before`, or are one complete new version (both
    paths in the same version, readable, with every row its manifest counts). Returns "old" or
    "new"."""
    now = served_fingerprint(data)
    assert not now["serving_wal"], f"a WAL is beside {data / 'serving.duckdb'}"
    if now == before:
        return "old"
    serving_v = version_of(now["serving_link"])
    parquet_v = version_of(now["published_link"])
    assert serving_v == parquet_v, f"mixed: serving.duckdb is {serving_v}, published/ {parquet_v}"
    counts = publication_row_counts(data)
    tables = published_tables(data)
    parquet = published_parquet(data)
    assert set(parquet) == set(tables), (sorted(parquet), sorted(tables))
    for table, frame in tables.items():
        if table not in STAMP_TABLES:
            assert len(frame) == counts[table], (table, len(frame), counts[table])
        pd.testing.assert_frame_equal(frame, parquet[table], check_dtype=False)
    return "new"

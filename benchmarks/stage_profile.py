"""Run `siyu run` in this process and measure it by stage: wall, CPU and peak memory of ingest,
dbt, models, audit and publish, and what orchestration costs around them.

    python -m benchmarks.stage_profile --out stages.json [--date D | --end D]

The settings come from the environment (SIYU_DATA_DIR, SIYU_LANDING_DIR, ...) as for `siyu run`,
with a persistent DAGSTER_HOME (SQLite run storage, as a user's runs are recorded). A sampler
thread reads the resident memory and CPU time of this process and of its children (dbt runs as a
subprocess) every SAMPLE_S; after the run, the Dagster event log gives each step's start and end,
and each step is attributed to its stage by the asset it materialises.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_S = 0.2
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
STAGES = ("ingest", "dbt", "models", "audit", "publish")


def stage_of(step_key: str) -> str:
    """The stage of a step of the daily or monthly job, by the asset (or check) it runs."""
    if step_key.startswith("raw__"):
        return "ingest"
    if step_key.startswith("siyu_dbt"):
        return "dbt"
    if step_key.startswith(("ml__", "models__")):  # scoring; the monthly training
        return "models"
    if step_key.startswith(("audit__", "marts__")):
        return "audit"  # the quality gate and the WARN checks on the marts
    return "publish"  # serving__publication, the report and the mass-send export


def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                out += [int(c) for c in handle.read().split()]
    except OSError:
        pass
    return out


def _tree(pid: int) -> list[int]:
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def _rss_and_cpu(pid: int) -> tuple[int, float]:
    """Resident bytes and CPU seconds (user + system) of one live process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        # fields after the command: state(0) ... utime(11) stime(12) ... rss(21)
        return int(fields[21]) * PAGE, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return 0, 0.0


@dataclass
class Sampler:
    """Samples (time, tree RSS, tree CPU) of this process and every descendant."""

    samples: list[tuple[float, int, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> None:
        pid = os.getpid()
        rss = cpu = 0
        for p in _tree(pid):
            r, c = _rss_and_cpu(p)
            rss += r
            if p != pid:
                cpu += c
        own = os.times()
        # own CPU plus reaped children (their time moves here when they exit) plus live children
        cpu += own.user + own.system + own.children_user + own.children_system
        self.samples.append((time.time(), rss, cpu))

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.sample()

    def __enter__(self) -> Sampler:
        self.sample()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def window(self, start: float, end: float) -> tuple[float, int]:
        """CPU seconds spent and peak RSS between two instants (nearest samples)."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        before = [s for s in self.samples if s[0] <= start] or self.samples[:1]
        after = [s for s in self.samples if s[0] >= end] or self.samples[-1:]
        cpu = after[0][2] - before[-1][2]
        peak = max([s[1] for s in inside] or [before[-1][1], after[0][1]])
        return max(cpu, 0.0), peak


def step_windows(instance, since: float) -> list[tuple[str, str, float, float]]:
    """(run id, step key, start, end) of every step of the runs started after `since`."""
    import dagster as dg

    out = []
    for record in instance.get_run_records():
        if record.create_timestamp.timestamp() < since - 1:
            continue
        run_id = record.dagster_run.run_id
        starts: dict[str, float] = {}
        for entry in instance.all_logs(
            run_id,
            of_type={
                dg.DagsterEventType.STEP_START,
                dg.DagsterEventType.STEP_SUCCESS,
                dg.DagsterEventType.STEP_FAILURE,
            },
        ):
            key = entry.step_key
            if entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
                starts[key] = entry.timestamp
            elif key in starts:
                out.append((run_id, key, starts.pop(key), entry.timestamp))
    return out


def dbt_nodes(target_root: Path, since: float, top: int = 12) -> list[dict]:
    """Per dbt invocation of the run (run_results.json written since `since` under the dbt target
    folder): elapsed time, the summed time of models and of tests, and the slowest nodes."""
    out = []
    for path in sorted(target_root.glob("*/run_results.json"), key=lambda p: p.stat().st_mtime):
        if path.stat().st_mtime < since:
            continue
        results = json.loads(path.read_text(encoding="utf-8"))
        nodes = results.get("results", [])
        models = [n for n in nodes if n["unique_id"].startswith("model.")]
        tests = [n for n in nodes if n["unique_id"].startswith("test.")]
        out.append(
            {
                "invocation": path.parent.name,
                "elapsed_s": round(results.get("elapsed_time", 0.0), 2),
                "nodes": len(nodes),
                "models_s": round(sum(n["execution_time"] for n in models), 2),
                "tests_s": round(sum(n["execution_time"] for n in tests), 2),
                "slowest": [
                    {"node": n["unique_id"].split(".")[2], "s": round(n["execution_time"], 2)}
                    for n in sorted(nodes, key=lambda n: -n["execution_time"])[:top]
                ],
            }
        )
    return out


def profile(start: dt.date, end: dt.date) -> dict:
    import dagster as dg

    from orchestration.cli import ensure_dagster_home, run_platform
    from orchestration.defs.dbt import dbt_target_root
    from orchestration.lib.settings import Settings

    settings = Settings.from_env()
    ensure_dagster_home(settings.data_dir)
    began = time.time()
    with Sampler() as sampler, dg.DagsterInstance.get() as instance:
        code = run_platform(settings, start, end, instance)
        finished = time.time()
        windows = step_windows(instance, began)
    stages = {s: {"wall_s": 0.0, "cpu_s": 0.0, "peak_rss_mib": 0, "steps": 0} for s in STAGES}
    for _, key, a, b in windows:
        cpu, peak = sampler.window(a, b)
        s = stages[stage_of(key)]
        s["wall_s"] += b - a
        s["cpu_s"] += cpu
        s["peak_rss_mib"] = max(s["peak_rss_mib"], peak // 2**20)
        s["steps"] += 1
    total_cpu, total_peak = sampler.window(began, finished)
    in_steps = sum(s["wall_s"] for s in stages.values())
    for s in stages.values():
        s["wall_s"], s["cpu_s"] = round(s["wall_s"], 2), round(s["cpu_s"], 2)
    return {
        "exit_code": code,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "wall_s": round(finished - began, 2),
        "cpu_s": round(total_cpu, 2),
        "peak_rss_mib": total_peak // 2**20,
        "stages": stages,
        # run set-up, event writes, definitions and everything between steps
        "orchestration_s": round(finished - began - in_steps, 2),
        "steps": [
            {"step": key, "stage": stage_of(key), "wall_s": round(b - a, 2)}
            for _, key, a, b in sorted(windows, key=lambda w: w[2])
        ],
        "dbt": dbt_nodes(dbt_target_root(), began),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--date")
    parser.add_argument("--start")
    parser.add_argument("--end")
    args = parser.parse_args(argv)
    from orchestration.cli import resolve_range
    from orchestration.lib.settings import Settings

    settings = Settings.from_env()
    start, end = resolve_range(args, settings.landing_dir, settings.sources)
    result = profile(start, end)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result["exit_code"]


if __name__ == "__main__":
    sys.exit(main())

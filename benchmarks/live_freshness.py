"""Freshness of the live tables: the time from an extract batch landing to its rows being visible
in the published live tables (issue 13). A benchmark, not a test.

    python -m benchmarks.live_freshness --persons 200000 --history-days 1 --batches 4 --out DIR

Generates `persons` x (`history-days` + 1) days with `--batches-per-day`, lands the history and
runs the daily job on it (`siyu run`: the baseline the live path starts from), then lands the
last day's batches one at a time: each batch's files are renamed into the landing folder (t0),
`siyu run --live` runs in a new process (what the `intraday_landing` sensor's run does: a run
process loads the code location, loads the new files, rebuilds, audits and publishes), and the
published `<live>/serving_live.duckdb` is polled until its version changes (t1). Reported per
batch: t1 - t0, and the worst case with the sensor's 30-second interval added.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from datagen.generate import batch_names, generate
from datagen.landing import land_all_but_day, land_batch

SENSOR_INTERVAL_S = 30
SIYU = str(Path(sys.executable).with_name("siyu"))


def _publication(serving: Path) -> str | None:
    try:
        with duckdb.connect(str(serving), read_only=True) as con:
            return con.execute("select version from marts._publication").fetchone()[0]
    except (duckdb.Error, OSError):
        return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="live_freshness", description=__doc__.splitlines()[0])
    p.add_argument("--persons", type=int, default=20_000)
    p.add_argument("--history-days", type=int, default=1)
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 5, 1))
    p.add_argument("--out", type=Path, default=Path("data/bench/live"))
    args = p.parse_args(argv)

    out = args.out.absolute()
    shutil.rmtree(out, ignore_errors=True)
    data, held = out / "data", out / "held"
    gen = out / "generated"
    live_day = args.start + dt.timedelta(days=args.history_days)
    t = time.perf_counter()
    generate(
        persons=args.persons, days=args.history_days + 1, start=args.start, seed=42, out=gen,
        progress=False, batches_per_day=args.batches,
    )  # fmt: skip
    print(f"generated in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    land_all_but_day(gen, data / "landing", held, live_day)
    env = {**os.environ, "SIYU_DATA_DIR": str(data), "SIYU_START_DATE": args.start.isoformat()}
    env.setdefault("DBT_TARGET_PATH", str(out / "dbt_target"))
    t = time.perf_counter()
    subprocess.run([SIYU, "run"], env=env, check=True)
    daily_s = time.perf_counter() - t
    print(f"daily run over the history: {daily_s:.1f} s", file=sys.stderr)

    serving = data / "live" / "serving_live.duckdb"
    batches = []
    for batch in batch_names(args.batches):
        before = _publication(serving)
        files = len(land_batch(held, data / "landing", live_day, batch))
        t0 = time.perf_counter()
        run = subprocess.run([SIYU, "run", "--live"], env=env, capture_output=True, text=True)
        run_s = time.perf_counter() - t0
        while _publication(serving) == before and time.perf_counter() - t0 < 600:
            time.sleep(0.1)
        visible_s = time.perf_counter() - t0
        with duckdb.connect(str(serving), read_only=True) as con:
            touches = con.execute("select sum(touches) from marts.engagement_live").fetchone()[0]
        steps = [
            line.strip() for line in run.stderr.splitlines() if "ok " in line or "FAILED" in line
        ]
        batches.append(
            {
                "batch": batch,
                "files": files,
                "run_s": round(run_s, 1),
                "landing_to_visible_s": round(visible_s, 1),
                "worst_case_with_sensor_s": round(visible_s + SENSOR_INTERVAL_S, 1),
                "touches_so_far": touches,
                "steps": steps,
                "ok": run.returncode == 0,
            }
        )
        print(json.dumps(batches[-1]), file=sys.stderr)
    result = {
        "persons": args.persons,
        "history_days": args.history_days,
        "batches_per_day": args.batches,
        "daily_run_s": round(daily_s, 1),
        "batches": batches,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    (out / "live_freshness.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print("| batch | files | landing -> visible s | + sensor interval (worst) s |")
    print("| --- | --- | --- | --- |")
    for b in batches:
        print(
            f"| {b['batch']} | {b['files']} | {b['landing_to_visible_s']} | "
            f"{b['worst_case_with_sensor_s']} |"
        )
    return 0 if all(b["ok"] for b in batches) else 1


if __name__ == "__main__":
    raise SystemExit(main())

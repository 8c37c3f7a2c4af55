"""What orchestration costs on a backfill of every source (issue 10: under 10% of the load work).

    python -m benchmarks.backfill_overhead [--persons 2000] [--days 730] [--dir data/bench-backfill]

Generates the brand once (cached like `siyu bench`), then loads every landed day of every system
twice, each in its own process and into a fresh build database:

1. **the load work**: `ingestion.loader.load_days` per extract over the whole range, what the
   ingestion asset calls, with no Dagster around it;
2. **the backfill**: the daily job's `raw/extracts` asset over the same range as one single-run
   backfill (`execute_in_process` with the partition-range tags, as `siyu run` starts it), recorded
   in a persistent SQLite DAGSTER_HOME as a user's runs are: run creation, the planned and
   materialised events of every partition, resources, the step.

Overhead = backfill wall - load wall, as a share of the load wall. Writes <dir>/backfill.json and
prints a markdown table. Timings are never test assertions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
from pathlib import Path

from benchmarks.bench import _timed, ensure_landing, platform_env, progress

TARGET_OVERHEAD = 0.10


def load_alone(start: dt.date, end: dt.date) -> dict:
    """The ingestion asset's work without Dagster: every configured extract over the range."""
    from ingestion.entities import ENTITIES
    from ingestion.loader import ensure_raw_tables, load_days
    from orchestration.lib.partitions import days_in_window
    from orchestration.lib.settings import DEFAULT_HASH_SALT, Settings
    from privacy.suppression import load as load_suppression
    from warehouse.connection import connect

    settings = Settings.from_env()
    days = days_in_window(
        dt.datetime.combine(start, dt.time()), dt.datetime.combine(end + dt.timedelta(1), dt.time())
    )
    rows = 0
    with connect(settings.warehouse_path, memory_limit=settings.duckdb_memory_limit) as con:
        for entity in ENTITIES:
            ensure_raw_tables(con, entity)
        suppressed = load_suppression(
            con,
            os.environ.get("SIYU_HASH_SALT") or DEFAULT_HASH_SALT,
            settings.data_dir / "privacy" / "suppression_list.jsonl",
        )
        for entity in [e for e in ENTITIES if e.source in settings.sources]:
            result = load_days(
                con,
                entity,
                days,
                settings.landing_dir,
                settings.quarantine_dir,
                suppressed,
                lake_dir=settings.lake_dir,  # the raw lake is load work, as in the asset
            )
            rows += result.rows_loaded
    return {"days": len(days), "rows_loaded": rows}


def backfill(start: dt.date, end: dt.date) -> dict:
    """The same range as one single-run backfill of `raw/extracts` in the daily job."""
    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.defs.automation import DAILY_JOB_NAME
    from orchestration.lib.dbt_translator import RAW_EXTRACTS_KEY
    from orchestration.lib.partitions import (
        PARTITION_RANGE_END_TAG,
        PARTITION_RANGE_START_TAG,
        planned_events_for_range,
    )
    from orchestration.lib.settings import Settings

    job = build_definitions(Settings.from_env()).resolve_job_def(DAILY_JOB_NAME)
    instance = dg.DagsterInstance.get()
    with planned_events_for_range(start, end):  # as `siyu run` starts a range
        result = job.execute_in_process(
            instance=instance,
            tags={PARTITION_RANGE_START_TAG: str(start), PARTITION_RANGE_END_TAG: str(end)},
            raise_on_error=False,
            asset_selection=[RAW_EXTRACTS_KEY],
        )
    if not result.success:
        raise SystemExit("backfill failed")
    events = instance.all_logs(result.run_id)
    mats = result.get_asset_materialization_events()
    return {"events": len(events), "materialisations": len(mats)}


def raw_row_counts(data: Path) -> dict[str, int]:
    """Rows of every raw table (and of the row quarantine) in a data folder's build database."""
    import duckdb

    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        tables = con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw' "
            "order by table_name"
        ).fetchall()
        return {
            name: con.execute(f'select count(*) from raw."{name}"').fetchone()[0]
            for (name,) in tables
        }


def measure(root: Path, persons: int, days: int) -> dict:
    # the range ends yesterday: Dagster's daily partitions end at today, and a backfill past
    # them would record no materialisation for the days that are not partitions yet
    end = dt.date.today() - dt.timedelta(days=1)
    start = end - dt.timedelta(days=days - 1)
    landing = ensure_landing(root, persons, days, start)
    out: dict = {"persons": persons, "days": days, "start": str(start), "end": str(end)}
    for label in ("load", "backfill"):
        data = root / f"data-{label}"
        shutil.rmtree(data, ignore_errors=True)
        env = platform_env(root, landing, start)
        env.update(
            SIYU_DATA_DIR=str(data),
            DAGSTER_HOME=str(data / "dagster_home"),
            DBT_TARGET_PATH=str(data / "dbt_target"),
        )
        (data / "dagster_home").mkdir(parents=True)
        progress(f"{label}: {start} .. {end}")
        result_file = root / f"{label}.json"
        measured = _timed(
            [sys.executable, "-m", "benchmarks.backfill_overhead", "--child", label,
             "--start", str(start), "--end", str(end), "--result", str(result_file)],
            env,
        )  # fmt: skip
        if measured["exit_code"] != 0:
            raise SystemExit(f"{label} failed:\n{measured.get('stderr_tail', '')}")
        out[label] = {**measured, **json.loads(result_file.read_text())}
    # the two loaded the same rows, or the comparison is worthless
    out["raw_rows"] = {
        label: raw_row_counts(root / f"data-{label}") for label in ("load", "backfill")
    }
    out["agree"] = out["raw_rows"]["load"] == out["raw_rows"]["backfill"]
    load_s, backfill_s = out["load"]["wall_s"], out["backfill"]["wall_s"]
    out["overhead_s"] = round(backfill_s - load_s, 2)
    out["overhead_share"] = round((backfill_s - load_s) / load_s, 3)
    out["target_share"] = TARGET_OVERHEAD
    return out


def markdown(r: dict) -> str:
    load, back = r["load"], r["backfill"]
    return "\n".join(
        [
            f"#### Backfill: {r['persons']:,} persons x {r['days']} days, every source "
            f"({load['rows_loaded']:,} rows)",
            "",
            "| run | wall s | CPU s | peak MiB |",
            "| --- | --- | --- | --- |",
            f"| load work alone (`load_days` per extract) | {load['wall_s']} | {load['cpu_s']} "
            f"| {load['peak_rss_mib']} |",
            f"| single-run backfill of `raw/extracts` ({back['events']:,} events) "
            f"| {back['wall_s']} | {back['cpu_s']} | {back['peak_rss_mib']} |",
            "",
            f"Both loaded the same rows: {'yes' if r['agree'] else 'NO'}. "
            f"Orchestration overhead {r['overhead_s']} s = **{r['overhead_share']:.1%}** of the "
            f"load work (target {r['target_share']:.0%}).",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=2000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--dir", default=str(Path("data") / "bench-backfill"))
    parser.add_argument("--child", choices=("load", "backfill"), help=argparse.SUPPRESS)
    parser.add_argument("--start", help=argparse.SUPPRESS)
    parser.add_argument("--end", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        start, end = dt.date.fromisoformat(args.start), dt.date.fromisoformat(args.end)
        run = load_alone if args.child == "load" else backfill
        Path(args.result).write_text(json.dumps(run(start, end)) + "\n", encoding="utf-8")
        return 0
    root = Path(args.dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    result = measure(root, args.persons, args.days)
    (root / "backfill.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

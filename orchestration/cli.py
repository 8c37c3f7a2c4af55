"""`siyu`: the platform's command line (generate demo extracts, run the daily job, ...)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


def _settings():
    from orchestration.lib.settings import Settings

    return Settings.from_env()


def ensure_dagster_home(data_dir: Path) -> Path:
    """Runs are recorded in DAGSTER_HOME (default <data>/dagster_home) so `make ui` shows them."""
    home = Path(os.environ.get("DAGSTER_HOME") or data_dir / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def landed_days(landing_dir: Path) -> list[dt.date]:
    days = set()
    for source_dir in landing_dir.iterdir() if landing_dir.is_dir() else []:
        if source_dir.name.startswith("_") or not source_dir.is_dir():
            continue
        for d in source_dir.iterdir():
            try:
                days.add(dt.date.fromisoformat(d.name))
            except ValueError:
                continue
    return sorted(days)


def resolve_range(args, landing_dir: Path) -> tuple[dt.date, dt.date]:
    """The inclusive day range to run: --date, --start/--end, or every landed day."""
    if args.date:
        day = dt.date.fromisoformat(args.date)
        return day, day
    days = landed_days(landing_dir)
    start = dt.date.fromisoformat(args.start) if args.start else (days[0] if days else None)
    end = dt.date.fromisoformat(args.end) if args.end else (days[-1] if days else None)
    if start is None or end is None:
        raise SystemExit(f"siyu run: nothing landed under {landing_dir}; run `siyu generate` first "
                         "or pass --date")
    if end < start:
        raise SystemExit(f"siyu run: --end {end} is before --start {start}")
    return start, end


def cmd_run(args) -> int:
    import dagster as dg

    from orchestration.defs.automation import DAILY_JOB_NAME
    from orchestration.definitions import build_definitions

    settings = _settings()
    start, end = resolve_range(args, settings.landing_dir)
    if start < dt.date.fromisoformat(settings.start_date):
        raise SystemExit(f"siyu run: {start} is before SIYU_START_DATE={settings.start_date}")
    ensure_dagster_home(settings.data_dir)
    defs = build_definitions(settings)
    job = defs.resolve_job_def(DAILY_JOB_NAME)
    # A range is one run over the daily partitions (a single-run backfill), never one run per day.
    tags = {PARTITION_RANGE_START_TAG: start.isoformat(), PARTITION_RANGE_END_TAG: end.isoformat()}
    print(f"siyu run: daily job over {start} .. {end} ({(end - start).days + 1} days), in-process",
          file=sys.stderr)
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure:
                print(f"siyu run: step {event.step_key} failed: "
                      f"{event.step_failure_data.error.message.strip().splitlines()[0] if event.step_failure_data.error else ''}",
                      file=sys.stderr)
        return 1
    print(f"siyu run: ok ({result.run_id}); warehouse {settings.warehouse_path}", file=sys.stderr)
    return 0


def cmd_generate(argv: list[str]) -> int:
    from datagen.cli import main as generate_main

    return generate_main(argv)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="siyu", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("generate", help="write synthetic extracts (see `siyu generate --help`)",
                   add_help=False)
    run = sub.add_parser("run", help="materialise the daily job in-process for a day or a range")
    run.add_argument("--date", help="one business day YYYY-MM-DD")
    run.add_argument("--start", help="first day of a range (default: first landed day)")
    run.add_argument("--end", help="last day of a range, inclusive (default: last landed day)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "generate":
        return cmd_generate(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return cmd_run(args)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())

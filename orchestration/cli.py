"""`siyu`: the platform's command line (generate demo extracts, run the daily job, ...)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from orchestration.lib.partitions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG


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
        raise SystemExit(
            f"siyu run: nothing landed under {landing_dir}; run `siyu generate` first "
            "or pass --date"
        )
    if end < start:
        raise SystemExit(f"siyu run: --end {end} is before --start {start}")
    return start, end


def cmd_run(args) -> int:
    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.defs.automation import DAILY_JOB_NAME, MONTHLY_JOB_NAME, split_at_models
    from orchestration.defs.models import CHURN, SEGMENTATION, build_scoring_assets
    from orchestration.lib.model_registry import ModelRegistry
    from orchestration.lib.partitions import monthly_partitions

    settings = _settings()
    start, end = resolve_range(args, settings.landing_dir)
    if start < dt.date.fromisoformat(settings.start_date):
        raise SystemExit(f"siyu run: {start} is before SIYU_START_DATE={settings.start_date}")
    ensure_dagster_home(settings.data_dir)
    defs = build_definitions(settings)
    daily_job = defs.resolve_job_def(DAILY_JOB_NAME)
    registry = ModelRegistry(settings.models_dir)
    bootstrap = not (registry.promoted_version(SEGMENTATION) and registry.promoted_version(CHURN))

    with dg.DagsterInstance.get() as instance:
        if not bootstrap:
            # A range is one run over the daily partitions (a single-run backfill).
            return _execute(daily_job, instance, start, end, "daily job")
        # First run on an empty model registry: build the marts over the range, train the
        # models on the last month, then score, audit and publish.
        upstream, downstream = split_at_models(defs, build_scoring_assets())
        code = _execute(
            daily_job, instance, start, end, "daily job, marts only", asset_selection=upstream
        )
        if code:
            return code
        monthly = monthly_partitions(settings.start_date)
        month_key = end.replace(day=1).isoformat()
        if month_key not in monthly.get_partition_keys():
            month_key = monthly.get_last_partition_key()
        monthly_job = defs.resolve_job_def(MONTHLY_JOB_NAME)
        print(f"siyu run: training the models as of month {month_key}", file=sys.stderr)
        result = monthly_job.execute_in_process(
            instance=instance, partition_key=month_key, raise_on_error=False
        )
        if not result.success:
            _report_failures(result)
            return 1
        return _execute(
            daily_job,
            instance,
            end,
            end,
            "daily job, models to publication",
            asset_selection=downstream,
        )


def _execute(job, instance, start: dt.date, end: dt.date, label: str, asset_selection=None) -> int:
    tags = {PARTITION_RANGE_START_TAG: start.isoformat(), PARTITION_RANGE_END_TAG: end.isoformat()}
    print(
        f"siyu run: {label} over {start} .. {end} ({(end - start).days + 1} days), in-process",
        file=sys.stderr,
    )
    result = job.execute_in_process(
        instance=instance, tags=tags, raise_on_error=False, asset_selection=asset_selection
    )
    if not result.success:
        _report_failures(result)
        return 1
    print(f"siyu run: {label} ok (run {result.run_id})", file=sys.stderr)
    return 0


def _report_failures(result) -> None:
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            first = error.message.strip().splitlines()[0] if error else ""
            print(f"siyu run: step {event.step_key} failed: {first}", file=sys.stderr)


def cmd_models(args) -> int:
    from orchestration.lib.model_registry import ModelRegistry

    registry = ModelRegistry(_settings().models_dir)
    rows = registry.list(args.name)
    if not rows:
        print("no model versions yet")
        return 0
    for m in rows:
        metrics = m.get("metrics", {})
        headline = metrics.get("candidate", metrics)
        auc = headline.get("roc_auc") if isinstance(headline, dict) else None
        sil = metrics.get("silhouette")
        figure = (
            f"roc_auc={auc:.3f}"
            if auc is not None
            else (f"silhouette={sil:.3f}" if sil is not None else "")
        )
        print(
            f"{m['version']:<40} {'promoted' if m.get('promoted') else '':<9} "
            f"saved {m.get('saved_at', '')}  window {m.get('training_window')}  {figure}"
        )
    return 0


def cmd_publish(argv: list[str]) -> int:
    from publishing.cli import main as publish_main

    settings = _settings()
    return publish_main(
        argv,
        serving_path=settings.serving_path,
        published_dir=settings.published_dir,
        pg_dsn=settings.pg_dsn,
    )


def cmd_generate(argv: list[str]) -> int:
    from datagen.cli import main as generate_main

    return generate_main(argv)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="siyu", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "generate", help="write synthetic extracts (see `siyu generate --help`)", add_help=False
    )
    sub.add_parser(
        "publish",
        help="list, log or roll back publications (see `siyu publish --help`)",
        add_help=False,
    )
    run = sub.add_parser("run", help="materialise the daily job in-process for a day or a range")
    run.add_argument("--date", help="one business day YYYY-MM-DD")
    run.add_argument("--start", help="first day of a range (default: first landed day)")
    run.add_argument("--end", help="last day of a range, inclusive (default: last landed day)")
    from orchestration.erase_cli import add_erase_arguments

    add_erase_arguments(
        sub.add_parser("erase", help="erase persons from every layer (PIPL art. 47)")
    )
    models = sub.add_parser("models", help="list trained model versions (newest last)")
    models.add_argument("--name", help="segmentation or churn (default: all)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "generate":
        return cmd_generate(argv[1:])
    if argv and argv[0] == "publish":
        return cmd_publish(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return cmd_run(args)
    if args.command == "models":
        return cmd_models(args)
    if args.command == "erase":
        from orchestration.erase_cli import cmd_erase

        return cmd_erase(args)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())

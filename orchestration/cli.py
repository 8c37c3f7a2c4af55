"""`siyu`: the platform's command line (generate demo extracts, run the daily job, ...)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
from contextlib import contextmanager
from pathlib import Path

from orchestration.lib.failures import error_text
from orchestration.lib.partitions import (
    PARTITION_RANGE_END_TAG,
    PARTITION_RANGE_START_TAG,
    planned_events_for_range,
)


def _settings():
    from orchestration.lib.settings import Settings, SettingsError

    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise SystemExit(f"siyu: {exc}") from None


def ensure_dagster_home(data_dir: Path) -> Path:
    """Runs are recorded in DAGSTER_HOME (default <data>/dagster_home) so `make ui` shows them."""
    home = Path(os.environ.get("DAGSTER_HOME") or data_dir / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        # Dagster's defaults (SQLite storage in this folder), said once so Dagster does not
        # print a notice about a missing file on every run
        config.write_text(
            "# Dagster instance of `siyu run` and `make ui`: SQLite run and event storage here.\n"
            "telemetry:\n  enabled: false\n",
            encoding="utf-8",
        )
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def landed_days(landing_dir: Path, sources: tuple[str, ...] | None = None) -> list[dt.date]:
    """Days with a day folder from any of `sources` (default: any source folder)."""
    days = set()
    for source_dir in landing_dir.iterdir() if landing_dir.is_dir() else []:
        if source_dir.name.startswith("_") or not source_dir.is_dir():
            continue
        if sources is not None and source_dir.name not in sources:
            continue
        for d in source_dir.iterdir():
            try:
                days.add(dt.date.fromisoformat(d.name))
            except ValueError:
                continue
    return sorted(days)


def parse_day(option: str, text: str) -> dt.date:
    """A YYYY-MM-DD day from the command line, or one line saying what is wrong."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise SystemExit(f"siyu run: {option} {text!r} is not a date YYYY-MM-DD") from None


def resolve_range(
    args, landing_dir: Path, sources: tuple[str, ...] | None = None
) -> tuple[dt.date, dt.date]:
    """The inclusive day range to run: --date, --start/--end, or every landed day of `sources`."""
    days = landed_days(landing_dir, sources)
    where = f"{landing_dir} (sources: {', '.join(sources)})" if sources else str(landing_dir)
    if not days:
        raise SystemExit(
            f"siyu run: nothing landed under {where}; run `siyu generate` first or check "
            "SIYU_LANDING_DIR and SIYU_SOURCES"
        )
    if args.date:
        day = parse_day("--date", args.date)
        if day not in days:
            raise SystemExit(
                f"siyu run: --date {day}: no day folder landed for it under {where}; "
                f"landed days are {days[0]} .. {days[-1]}"
            )
        return day, day
    start = parse_day("--start", args.start) if args.start else days[0]
    end = parse_day("--end", args.end) if args.end else days[-1]
    if end < start:
        raise SystemExit(f"siyu run: --end {end} is before --start {start}")
    if not any(start <= d <= end for d in days):
        raise SystemExit(
            f"siyu run: nothing landed between {start} and {end} under {where}; "
            f"landed days are {days[0]} .. {days[-1]}"
        )
    return start, end


def cmd_run(args) -> int:
    import dagster as dg

    settings = _settings()
    if args.live:
        if args.date or args.start or args.end:
            raise SystemExit(
                "siyu run: --live takes no --date, --start or --end (it loads what landed)"
            )
        ensure_dagster_home(settings.data_dir)
        with dg.DagsterInstance.get() as instance:
            if args.verbose:
                return run_live(settings, instance)
            with quiet_console(run_log_path(settings.data_dir)) as log_path:
                return run_live(settings, instance, log_path=log_path)
    start, end = resolve_range(args, settings.landing_dir, settings.sources)
    if start < dt.date.fromisoformat(settings.start_date):
        raise SystemExit(f"siyu run: {start} is before SIYU_START_DATE={settings.start_date}")
    ensure_dagster_home(settings.data_dir)
    with run_lock(settings.data_dir):
        if args.verbose:
            with dg.DagsterInstance.get() as instance:
                return run_platform(settings, start, end, instance)
        with (
            quiet_console(run_log_path(settings.data_dir)) as log_path,
            dg.DagsterInstance.get() as instance,
        ):
            return run_platform(settings, start, end, instance, log_path=log_path)


# `siyu run` without -v: one line per step on the console; the whole log of each run is kept here.
RUN_LOGS_KEPT = 10


def run_log_path(data_dir: Path) -> Path:
    """<data>/logs/siyu_run_<UTC time>.log for this run; the oldest beyond RUN_LOGS_KEPT go."""
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for old in sorted(logs.glob("siyu_run_*.log"))[: -(RUN_LOGS_KEPT - 1) or None]:
        old.unlink(missing_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return logs / f"siyu_run_{stamp}.log"


@contextmanager
def quiet_console(log_path: Path):
    """What `siyu run` prints without -v: its own lines and the step progress on stderr; dbt's
    output, Dagster's full log and Python warnings go to `log_path`. Dagster's API-stability
    warnings (beta, preview, superseded, deprecated parameters) are the platform's concern, not
    the operator's, and are not shown at all; dbt sends no usage statistics."""
    import warnings
    from contextlib import redirect_stdout

    import dagster as dg

    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    with open(log_path, "a", encoding="utf-8") as log, warnings.catch_warnings():
        for category in (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning):
            warnings.simplefilter("ignore", category)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"dagster.*")

        def to_log(message, category, filename, lineno, file=None, line=None):
            log.write(warnings.formatwarning(message, category, filename, lineno, line))

        warnings.showwarning = to_log
        with redirect_stdout(log):
            yield log_path


# The console logger config of a quiet `siyu run` (orchestration/lib/console.py).
PROGRESS_RUN_CONFIG = {"loggers": {"console": {"config": {"progress": True}}}}


@contextmanager
def run_lock(data_dir: Path):
    """One `siyu run` at a time per data folder: DuckDB allows one writer, and two runs would
    interleave their loads and publications. A second run is refused in one line."""
    import fcntl

    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / ".siyu-run.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise SystemExit(
                f"siyu run: another siyu run (pid {holder}) is writing to {data_dir}; "
                "wait for it to finish"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_platform(
    settings, start: dt.date, end: dt.date, instance, log_path: Path | None = None
) -> int:
    """What `siyu run` does for [start, end] on `instance`: the daily job as one run; with no
    promoted model yet, the marts first, then the monthly training, then scoring to
    publication. Prints progress, failures with their reasons and a closing summary to stderr;
    returns the exit code. With `log_path` (a quiet run) the steps print one line each and the
    full log is in that file; without it Dagster's full log is on the console."""
    run_config = PROGRESS_RUN_CONFIG if log_path is not None else None
    from orchestration.definitions import build_definitions
    from orchestration.defs.automation import DAILY_JOB_NAME, MONTHLY_JOB_NAME, split_at_models
    from orchestration.defs.models import CHURN, SEGMENTATION, build_scoring_assets
    from orchestration.lib.partitions import monthly_partitions
    from warehouse.model_registry import ModelRegistry

    defs = build_definitions(settings)
    daily_job = defs.resolve_job_def(DAILY_JOB_NAME)
    registry = ModelRegistry(settings.models_dir)
    # Train before scoring when a model has no promoted version and was not tried this month
    # yet: a brand with too little history for churn is not retrained on every daily run (the
    # monthly schedule tries again on the 1st).
    month_start = end.replace(day=1).isoformat()
    bootstrap = any(
        not registry.promoted_version(name)
        and (registry.last_attempt_day(name) or "") < month_start
        for name in (SEGMENTATION, CHURN)
    )

    print(f"siyu run: sources {', '.join(settings.sources)}", file=sys.stderr)
    results = []
    if not bootstrap:
        # A range is one run over the daily partitions (a single-run backfill).
        results.append(_execute(daily_job, instance, start, end, "daily job", run_config))
    else:
        # No promoted model yet: build the marts over the range, train the models on the
        # last month (a model with too little history is skipped and says why), then score,
        # audit and publish.
        upstream, downstream = split_at_models(defs, build_scoring_assets())
        results.append(
            _execute(
                daily_job,
                instance,
                start,
                end,
                "daily job, marts only",
                run_config,
                asset_selection=upstream,
            )
        )
        if results[-1].success:
            monthly = monthly_partitions(settings.start_date)
            month_key = end.replace(day=1).isoformat()
            if month_key not in monthly.get_partition_keys():
                month_key = monthly.get_last_partition_key()
            monthly_job = defs.resolve_job_def(MONTHLY_JOB_NAME)
            print(f"siyu run: training the models as of month {month_key}", file=sys.stderr)
            training = monthly_job.execute_in_process(
                run_config=run_config,
                instance=instance,
                partition_key=month_key,
                raise_on_error=False,
            )
            _report_run(training, "model training")
            if not training.success:
                # A model that is not promoted (too little history, or no better than its
                # baseline) scores nothing yet; the marts still publish without it.
                print(
                    "siyu run: a model was not promoted (above): the marts publish "
                    "without its scores, which appear once a model is promoted",
                    file=sys.stderr,
                )
            results.append(
                _execute(
                    daily_job,
                    instance,
                    end,
                    end,
                    "daily job, models to publication",
                    run_config,
                    asset_selection=downstream,
                )
            )
    if log_path is not None:
        print(f"siyu run: full log (Dagster, dbt) in {log_path}", file=sys.stderr)
    for line in run_summary(results, settings):
        print(line, file=sys.stderr)
    return 0 if all(r.success for r in results) else 1


def run_live(settings, instance, log_path: Path | None = None) -> int:
    """What `siyu run --live` does: the live job once, in-process (what the `intraday_landing`
    sensor requests). It takes no `siyu run` lock: the live path never writes the build
    database, and a daily run may go on beside it."""
    from orchestration.definitions import build_definitions
    from orchestration.defs.live import LIVE_JOB_NAME

    run_config = PROGRESS_RUN_CONFIG if log_path is not None else None
    job = build_definitions(settings).resolve_job_def(LIVE_JOB_NAME)
    print("siyu run: live job (new extract files -> live tables), in-process", file=sys.stderr)
    result = job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=False)
    _report_run(result, "live job")
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        key = mat.asset_key.to_user_string()
        if key == "live/extracts":
            print(
                f"siyu run:   {_metadata_text(mat.metadata, 'new_files')} new file(s), "
                f"{_metadata_text(mat.metadata, 'rows_loaded')} rows, "
                f"{_metadata_text(mat.metadata, 'duplicate_files')} duplicate(s), "
                f"after {_metadata_text(mat.metadata, 'baseline_date')}",
                file=sys.stderr,
            )
        elif key == "live/publication":
            print(
                f"siyu run: live published {_metadata_text(mat.metadata, 'version')} "
                f"({_metadata_text(mat.metadata, 'rows')} rows) at "
                f"{_metadata_text(mat.metadata, 'serving_path')}",
                file=sys.stderr,
            )
    if not result.success:
        print("siyu run: live NOT published: the previous live publication stays", file=sys.stderr)
    return 0 if result.success else 1


def _execute(
    job, instance, start: dt.date, end: dt.date, label: str, run_config=None, asset_selection=None
):
    tags = {PARTITION_RANGE_START_TAG: start.isoformat(), PARTITION_RANGE_END_TAG: end.isoformat()}
    print(
        f"siyu run: {label} over {start} .. {end} ({(end - start).days + 1} days), in-process",
        file=sys.stderr,
    )
    with planned_events_for_range(start, end):
        result = job.execute_in_process(
            run_config=run_config,
            instance=instance,
            tags=tags,
            raise_on_error=False,
            asset_selection=asset_selection,
        )
    _report_run(result, label)
    return result


def _report_run(result, label: str) -> None:
    """One line per failed check and failed step, each with its whole reason; skipped models."""
    for line in failure_lines(result):
        print(f"siyu run: {line}", file=sys.stderr)
    for line in [*warning_lines(result), *skipped_model_lines(result)]:
        print(f"siyu run: {line}", file=sys.stderr)
    state = "ok" if result.success else "FAILED"
    print(f"siyu run: {label} {state} (run {result.run_id})", file=sys.stderr)


def failure_lines(result) -> list[str]:
    """Every failed asset check with its reason, then every failed step with its message.

    A step that failed only because blocking checks failed is named once, after the checks."""
    import dagster as dg

    lines = []
    failed_checks = [
        e
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity != dg.AssetCheckSeverity.WARN
    ]
    for check in failed_checks:
        reason = check.description or _metadata_text(check.metadata, "reason", "error")
        key = check.asset_key.to_user_string()
        lines.append(f"check {key}:{check.check_name} failed: {reason or 'no reason given'}")
    for event in result.get_step_failure_events():
        message = error_text(event.step_failure_data.error)
        if failed_checks and re.search(r"blocking asset checks? failed", message):
            message = f"{len(failed_checks)} blocking check(s) failed (above)"
        lines.append(f"step {event.step_key} failed: {message}")
    return lines


def warning_lines(result) -> list[str]:
    """WARN-severity checks that fired (business alarms): they never block publication."""
    import dagster as dg

    return [
        f"warning {e.asset_key.to_user_string()}:{e.check_name}: "
        f"{e.description or _metadata_text(e.metadata, 'summary', 'reason') or 'see the check in the UI'}"
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity == dg.AssetCheckSeverity.WARN
    ]


def skipped_model_lines(result) -> list[str]:
    """Models that could not train or score in this run, with the reason their asset gave."""
    lines = []
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        if mat.asset_key.path[0] not in ("models", "ml"):
            continue
        status = _metadata_text(mat.metadata, "status")
        reason = _metadata_text(mat.metadata, "reason")
        key = mat.asset_key.to_user_string()
        if status.startswith("skipped"):
            lines.append(f"{key}: skipped: {reason or status}")
        elif reason and _metadata_text(mat.metadata, "rows") == "0":
            lines.append(f"{key}: empty: {reason}")
    return lines


def _metadata_text(metadata, *names: str) -> str:
    for name in names:
        value = metadata.get(name)
        if value is not None:
            return str(getattr(value, "value", value))
    return ""


def run_summary(results, settings) -> list[str]:
    """The closing lines of `siyu run`: what was published where, or what blocked it."""
    published, report, documents = None, None, None
    for result in results:
        for event in result.get_asset_materialization_events():
            mat = event.step_materialization_data.materialization
            key = mat.asset_key.to_user_string()
            if key == "serving/publication":
                published = mat.metadata
            elif key == "reports/daily_report":
                report = mat.metadata
            elif key == "reports/category_documents":
                documents = mat.metadata
    if published is not None:
        lines = [
            f"siyu run: published {_metadata_text(published, 'version')} "
            f"({_metadata_text(published, 'tables')} tables, {_metadata_text(published, 'rows')} rows)",
            f"siyu run:   serving DuckDB  {settings.serving_path}",
            f"siyu run:   Parquet folder  {settings.published_dir}",
            f"siyu run:   PostgreSQL      {_metadata_text(published, 'postgresql')}",
        ]
        if report is not None:
            lines.append(f"siyu run:   report          {_metadata_text(report, 'report')}")
        if documents is not None:  # REG, ACT, FBK and RPT, by category
            lines.append(f"siyu run:   documents       {_metadata_text(documents, 'index')}")
        return lines
    failed = [line for result in results for line in failure_lines(result)]
    if failed:
        return [
            "siyu run: NOT published: the served files are unchanged "
            f"({settings.serving_path}); `siyu publish --log` records the attempt",
            f"siyu run:   blocked by: {failed[0]}",
        ]
    return ["siyu run: nothing published (the run did not reach publication)"]


def cmd_models(args) -> int:
    from orchestration.defs.models import CHURN, SEGMENTATION
    from warehouse.model_registry import ModelRegistry

    known = (SEGMENTATION, CHURN)
    if args.name and args.name not in known:
        print(
            f"siyu models: unknown model {args.name!r}; known: {', '.join(known)}", file=sys.stderr
        )
        return 2
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
        pg_readers=settings.pg_readers,
    )


def cmd_generate(argv: list[str]) -> int:
    from datagen.cli import main as generate_main

    return generate_main(argv)


# The fault-injection suite (issue 15): tests/faults, plus the concurrent-reader cases that live
# with the publication tests.
FAULT_SUITE = ("tests/faults", "tests/publishing/test_concurrency.py")


def cmd_faults(args) -> int:
    """Run the fault-injection suite from the source checkout and print its table by kind."""
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    missing = [p for p in FAULT_SUITE if not (repo / p).exists()]
    if missing:
        print(
            f"siyu faults: {repo / missing[0]} not found; the suite runs from a source "
            "checkout of siyu",
            file=sys.stderr,
        )
        return 2
    out = Path(args.out).resolve()
    command = [
        sys.executable, "-m", "pytest", *FAULT_SUITE, "-q", "-p", "tests.faults.table",
        f"--fault-table={out}", "-o", "addopts=",
    ]  # fmt: skip
    if args.workers > 1:
        command += ["-n", str(args.workers), "--dist", "loadfile"]
    if args.k:
        command += ["-k", args.k]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
    code = subprocess.run(command, cwd=repo, env=env).returncode
    table = out.with_suffix(".md")
    if not table.exists():
        print(f"siyu faults: the suite wrote no table (pytest exit {code})", file=sys.stderr)
        return code or 1
    print(table.read_text(encoding="utf-8"))
    print(f"siyu faults: results in {out} and {table}", file=sys.stderr)
    return code


def cmd_bench(argv: list[str]) -> int:
    """`siyu bench`: benchmarks/bench.py, from the source checkout."""
    repo = Path(__file__).resolve().parents[1]
    if not (repo / "benchmarks" / "bench.py").exists():
        print(
            f"siyu bench: {repo / 'benchmarks'} not found; run it from a source checkout",
            file=sys.stderr,
        )
        return 2
    sys.path.insert(0, str(repo))
    from benchmarks.bench import main as bench_main

    return bench_main(argv)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="siyu", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "generate", help="write synthetic extracts (see `siyu generate --help`)", add_help=False
    )
    sub.add_parser(
        "bench",
        help="time the platform against a DuckDB floor at scale S, M or L (`siyu bench --help`)",
        add_help=False,
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
    run.add_argument(
        "--live",
        action="store_true",
        help="once, what the intraday_landing sensor triggers: append the extract files landed "
        "after the last daily publication, rebuild, audit and publish the live tables",
    )
    run.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print Dagster's and dbt's full log (default: one line per step; the full log "
        "goes to <data>/logs/siyu_run_*.log)",
    )
    from orchestration.erase_cli import add_erase_arguments

    add_erase_arguments(
        sub.add_parser("erase", help="erase persons from every layer (PIPL art. 47)")
    )
    faults = sub.add_parser(
        "faults", help="run the fault-injection suite and print faults tried, survived, rows lost"
    )
    faults.add_argument(
        "--out", default="faults/faults.json", help="results JSON (a .md table beside it)"
    )
    faults.add_argument("--workers", type=int, default=2, help="test processes (default 2)")
    faults.add_argument("-k", help="only the faults whose test names match (pytest -k)")
    models = sub.add_parser("models", help="list trained model versions (newest last)")
    models.add_argument("--name", help="segmentation or churn (default: all)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "generate":
        return cmd_generate(argv[1:])
    if argv and argv[0] == "publish":
        return cmd_publish(argv[1:])
    if argv and argv[0] == "bench":
        return cmd_bench(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return cmd_run(args)
    if args.command == "models":
        return cmd_models(args)
    if args.command == "faults":
        return cmd_faults(args)
    if args.command == "erase":
        from orchestration.erase_cli import cmd_erase

        return cmd_erase(args)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())

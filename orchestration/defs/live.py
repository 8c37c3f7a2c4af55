"""The intraday path: the `live` job (append new extract files, rebuild and audit the live tables,
publish them on their own), the `intraday_landing` sensor that requests it, and the daily
job's `live/daily_baseline` step that the live tables start from (warehouse/live.py).

The live job never opens the build database and never waits for the daily run: its rows, tables
and publications live under SIYU_LIVE_DIR (default `<data>/live`).
"""

import hashlib
import json
from pathlib import Path

import dagster as dg

from data_quality.live import failure_line
from ingestion.live import landed_live_files, load_live
from orchestration.defs.publication import PUBLICATION_KEY
from orchestration.lib.ownership import ANALYTICS, DATA_ENGINEERING
from orchestration.lib.resources import SiyuSettingsResource, WarehouseResource
from publishing import live_version
from publishing.live import publish_live, refresh_live_tables
from warehouse.live import LIVE_TABLES, read_baseline, write_baseline

LIVE_JOB_NAME = "live"
LIVE_GROUP = "live"
BASELINE_KEY = dg.AssetKey(["live", "daily_baseline"])
EXTRACTS_KEY = dg.AssetKey(["live", "extracts"])
LIVE_PUBLICATION_KEY = dg.AssetKey(["live", "publication"])
LIVE_SENSOR_INTERVAL_S = 30


def live_table_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["live", table])


def live_suite_check(table: str) -> str:
    return f"{table}_suite"


@dg.asset(
    key=BASELINE_KEY,
    deps=[PUBLICATION_KEY],
    group_name=LIVE_GROUP,
    owners=[DATA_ENGINEERING],
    kinds={"duckdb", "parquet"},
    description="After each daily publication: what the live tables start from (identities as "
    "salted hashes, persons with last activity, segment and churn decile, the last 7 days' "
    "touches), as of the last published day; live rows of that day and before are superseded.",
)
def daily_baseline(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, siyu: SiyuSettingsResource
) -> dg.MaterializeResult:
    with warehouse.connect(read_only=True) as con:
        baseline = write_baseline(
            con,
            siyu.serving_path,
            siyu.live_path,
            siyu.read_hash_salt(),
            version=live_version(siyu.serving_path) or "",
        )
    return dg.MaterializeResult(
        metadata={
            "as_of_date": str(baseline.as_of_date),
            "daily_version": baseline.version,
            "path": str(baseline.path),
        }
    )


@dg.asset(
    key=EXTRACTS_KEY,
    group_name=LIVE_GROUP,
    owners=[DATA_ENGINEERING],
    kinds={"duckdb", "csv", "json"},
    description="Appends the extract files landed since the last live run (days after the daily "
    "baseline) to the live database: idempotent by file, a re-sent file changes nothing.",
)
def live_extracts(
    context: dg.AssetExecutionContext, siyu: SiyuSettingsResource
) -> dg.MaterializeResult:
    result, as_of = load_live(
        siyu.live_path,
        siyu.landing_dir,
        siyu.source_list,
        siyu.read_hash_salt(),
        Path(siyu.data_dir) / "privacy" / "suppression_list.jsonl",
    )
    for f in result.failed:
        context.log.error(f.message)
    return dg.MaterializeResult(
        metadata={
            "baseline_date": str(as_of),
            "new_files": sum(f.status in ("loaded", "replaced") for f in result.files),
            "duplicate_files": sum(f.status == "duplicate" for f in result.files),
            "failed_files": len(result.failed),
            "unchanged_files": result.unchanged,
            "rows_loaded": result.rows_loaded,
            "rows_superseded": result.superseded_rows,
            "files": dg.MetadataValue.md(
                "\n".join(f"- {f.label}: {f.status}, {f.rows} rows" for f in result.files[:50])
                or "none"
            ),
        }
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            live_table_key(t),
            deps=[EXTRACTS_KEY],
            group_name=LIVE_GROUP,
            owners=[ANALYTICS],
            kinds={"duckdb"},
            description=desc,
        )
        for t, desc in zip(
            LIVE_TABLES,
            (
                "Today so far, one row per live day: touches, touched users, interacting users, "
                "community share, over-touch users, open inbound chats past the 2-hour SLA.",
                "Per person: last active at, touches today and in 7 days, in an open SLA breach, "
                "over the frequency cap, segment and churn decile of the daily models.",
            ),
            strict=True,
        )
    ],
    check_specs=[
        dg.AssetCheckSpec(
            live_suite_check(t),
            asset=live_table_key(t),
            blocking=True,
            description=f"Suite data_quality/suites/live/{t}.json",
        )
        for t in LIVE_TABLES
    ],
    name="live_tables",
)
def live_tables(context: dg.AssetExecutionContext, siyu: SiyuSettingsResource):
    refresh = refresh_live_tables(siyu.live_path, siyu.read_hash_salt(), context.run.run_id)
    for table in LIVE_TABLES:
        yield dg.MaterializeResult(
            asset_key=live_table_key(table),
            metadata={
                "dagster/row_count": refresh.tables.rows[table],
                "live_days": ", ".join(map(str, refresh.tables.live_days)) or "none",
                "data_as_of_at": str(refresh.tables.data_as_of_at),
                "baseline_date": str(refresh.baseline.as_of_date),
            },
        )
    for table, r in refresh.results.items():
        yield dg.AssetCheckResult(
            asset_key=live_table_key(table),
            check_name=live_suite_check(table),
            passed=bool(r.success),
            description=None if r.success else failure_line(r),
            metadata={"expectations": r.n_expectations, "failed": r.n_failed},
        )


@dg.asset(
    key=LIVE_PUBLICATION_KEY,
    deps=[live_table_key(t) for t in LIVE_TABLES],
    group_name=LIVE_GROUP,
    owners=[DATA_ENGINEERING],
    kinds={"duckdb", "parquet"},
    description="Publishes the audited live tables atomically to <live>/serving_live.duckdb "
    "(schema marts) and <live>/published/*.parquet; a failed suite leaves the previous ones.",
)
def live_publication(
    context: dg.AssetExecutionContext, siyu: SiyuSettingsResource
) -> dg.MaterializeResult:
    pub = publish_live(siyu.live_path, context.run.run_id)
    return dg.MaterializeResult(
        metadata={
            "version": pub.version,
            "rows": sum(pub.row_counts.values()),
            "seconds": pub.duration_seconds,
            "serving_path": str(pub.serving_path),
        }
    )


LIVE_JOB_ASSETS = [live_extracts, live_tables, live_publication]


def build_live_job():
    return dg.define_asset_job(
        LIVE_JOB_NAME,
        selection=dg.AssetSelection.assets(*LIVE_JOB_ASSETS),
        executor_def=dg.in_process_executor,
        description="Append newly landed extract files, rebuild and audit the live tables, "
        "publish them (never the build database, never blocking the daily job).",
    )


def live_file_state(siyu: SiyuSettingsResource) -> dict | None:
    """What the sensor compares: the baseline's version and day, and every live file landed
    after that day with its size and modification time; None before the first baseline."""
    baseline = read_baseline(siyu.live_path)
    if baseline is None:
        return None
    files = landed_live_files(Path(siyu.landing_dir), siyu.source_list, baseline.as_of_date)
    return {
        "baseline": f"{baseline.as_of_date}/{baseline.path.name}",
        "files": {f.label: [f.size, f.mtime_ns] for f in files},
    }


_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def build_intraday_sensor(job) -> dg.SensorDefinition:
    @dg.sensor(
        job=job,
        minimum_interval_seconds=LIVE_SENSOR_INTERVAL_S,
        name="intraday_landing",
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Requests a live run when an extract file lands (or changes) in a day "
        "folder after the daily baseline, or when a new baseline is written; its cursor holds "
        "the files already requested.",
    )
    def intraday_landing(context: dg.SensorEvaluationContext, siyu: SiyuSettingsResource):
        state = live_file_state(siyu)
        if state is None:
            yield dg.SkipReason(
                f"no daily baseline under {siyu.live_path}: the live path starts after the first "
                "daily publication"
            )
            return
        seen = json.loads(context.cursor) if context.cursor else {}
        if state == seen:
            yield dg.SkipReason(f"no new extract file since the last live run ({siyu.landing_dir})")
            return
        active = context.instance.get_runs(
            filters=dg.RunsFilter(job_name=LIVE_JOB_NAME, statuses=_ACTIVE), limit=1
        )
        if active:
            yield dg.SkipReason("a live run is in progress; the new files go to the next one")
            return
        new = sorted(k for k, v in state["files"].items() if seen.get("files", {}).get(k) != v)
        run_key = hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]
        context.update_cursor(json.dumps(state, sort_keys=True))
        yield dg.RunRequest(
            run_key=f"live-{run_key}",
            tags={"siyu/live_new_files": str(len(new))},
        )

    return intraday_landing

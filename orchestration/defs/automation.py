"""The daily job, its 06:00 Asia/Shanghai schedule, and the sensor for newly landed day folders."""

import datetime as dt
import json
from pathlib import Path

import dagster as dg

from ingestion.entities import SOURCES
from orchestration.lib.partitions import BUSINESS_TIMEZONE
from orchestration.lib.resources import SiyuSettingsResource

DAILY_JOB_NAME = "daily"


MONTHLY_JOB_NAME = "monthly_models"


def build_daily_job(partitions_def: dg.PartitionsDefinition, exclude: dg.AssetSelection):
    return dg.define_asset_job(
        DAILY_JOB_NAME,
        selection=dg.AssetSelection.all() - exclude,
        partitions_def=partitions_def,
        executor_def=dg.in_process_executor,
        description="Load a day's extracts and rebuild everything downstream of them.",
    )


def split_at_models(
    defs: dg.Definitions, scoring: list
) -> tuple[list[dg.AssetKey], list[dg.AssetKey]]:
    """The daily job's assets before the model scoring (ingestion, marts) and from it on (scores,
    after-ML marts, audit, publication): a first run trains models in between."""
    graph = defs.resolve_asset_graph()
    job_keys = set(defs.resolve_job_def(DAILY_JOB_NAME).asset_layer.executable_asset_keys)
    from_models = dg.AssetSelection.assets(*scoring).downstream()
    upstream = (dg.AssetSelection.all() - from_models).resolve(graph) & job_keys
    return sorted(upstream), sorted(from_models.resolve(graph) & job_keys)


def build_monthly_job(partitions_def: dg.PartitionsDefinition, selection: dg.AssetSelection):
    return dg.define_asset_job(
        MONTHLY_JOB_NAME,
        selection=selection,
        partitions_def=partitions_def,
        executor_def=dg.in_process_executor,
        description="Retrain the segmentation and churn models on the month that just ended.",
    )


def build_monthly_schedule(job) -> dg.ScheduleDefinition:
    # The 1st at 05:00, before the 06:00 daily run scores with the new models.
    return dg.build_schedule_from_partitioned_job(
        job,
        day_of_month=1,
        hour_of_day=5,
        minute_of_hour=0,
        name="monthly_on_1st_0500_shanghai",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )


def build_daily_schedule(job) -> dg.ScheduleDefinition:
    # Daily partitions: the 06:00 tick runs the partition of the day that just ended.
    return dg.build_schedule_from_partitioned_job(
        job,
        hour_of_day=6,
        minute_of_hour=0,
        name="daily_at_0600_shanghai",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )


def complete_days(landing_dir: Path, sources: tuple[str, ...] = SOURCES) -> list[str]:
    """Days for which every source the brand has (SIYU_SOURCES) has delivered a folder, so a
    run sees all of the brand's systems; a system the brand does not have is never waited for."""
    per_source = []
    for source in sources:
        d = landing_dir / source
        per_source.append({p.name for p in d.iterdir() if p.is_dir()} if d.is_dir() else set())
    days = set.intersection(*per_source) if per_source else set()
    return sorted(day for day in days if _is_iso_date(day))


def _is_iso_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
        return True
    except ValueError:
        return False


def build_landing_sensor(job, partitions_def: dg.PartitionsDefinition) -> dg.SensorDefinition:
    @dg.sensor(
        job=job,
        minimum_interval_seconds=300,
        name="new_landing_day",
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Requests a run for a day once every source in SIYU_SOURCES has landed its "
        "day folder.",
    )
    def new_landing_day(context: dg.SensorEvaluationContext, siyu: SiyuSettingsResource):
        seen = set(json.loads(context.cursor)) if context.cursor else set()
        valid = set(partitions_def.get_partition_keys())
        new_days = [
            d
            for d in complete_days(Path(siyu.landing_dir), siyu.source_list)
            if d not in seen and d in valid
        ]
        for day in new_days:
            yield dg.RunRequest(run_key=f"landing-{day}", partition_key=day)
        if new_days:
            context.update_cursor(json.dumps(sorted(seen | set(new_days))))
        else:
            yield dg.SkipReason(
                f"no new day folder landed by every source in SIYU_SOURCES={siyu.sources} "
                f"under {siyu.landing_dir}"
            )

    return new_landing_day


__all__ = [
    "BUSINESS_TIMEZONE",
    "DAILY_JOB_NAME",
    "MONTHLY_JOB_NAME",
    "build_daily_job",
    "build_daily_schedule",
    "build_landing_sensor",
    "build_monthly_job",
    "build_monthly_schedule",
    "complete_days",
]

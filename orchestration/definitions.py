"""The Siyu code location: assembles what `defs/` declares, with resources from the environment."""

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration.defs.activation import build_activation_assets
from orchestration.defs.alerts import alert_on_run_failure
from orchestration.defs.automation import (
    build_daily_job,
    build_daily_schedule,
    build_landing_sensor,
    build_monthly_job,
    build_monthly_schedule,
)
from orchestration.defs.dbt import DBT_PROJECT, build_dbt_assets, dbt_executable
from orchestration.defs.ingestion import ingestion_assets
from orchestration.defs.live import (
    LIVE_JOB_ASSETS,
    build_intraday_sensor,
    build_live_job,
    daily_baseline,
)
from orchestration.defs.models import (
    build_intent_assets,
    build_scoring_assets,
    build_training_assets,
)
from orchestration.defs.monitors import MONITOR_CHECKS
from orchestration.defs.publication import (
    build_publication_asset,
    build_quality_gate,
    published_tables,
)
from orchestration.defs.reports import category_documents, daily_report
from orchestration.lib.console import siyu_console_logger
from orchestration.lib.ownership import with_owners_and_code_versions
from orchestration.lib.partitions import daily_partitions, monthly_partitions
from orchestration.lib.resources import SiyuSettingsResource, WarehouseResource
from orchestration.lib.settings import Settings, duckdb_temp_dir


def build_definitions(settings: Settings) -> dg.Definitions:
    daily = daily_partitions(settings.start_date)
    monthly = monthly_partitions(settings.start_date)
    training = build_training_assets(monthly)
    training_selection = dg.AssetSelection.assets(*training)
    # the live job's assets run on their own (the daily job keeps only live/daily_baseline)
    live_selection = dg.AssetSelection.assets(*LIVE_JOB_ASSETS)
    daily_job = build_daily_job(daily, exclude=training_selection | live_selection)
    live_job = build_live_job()
    monthly_job = build_monthly_job(monthly, training_selection)
    dbt_assets = build_dbt_assets()  # owners and code versions from the dbt translator
    python_assets = [
        *ingestion_assets(daily),
        *build_intent_assets(),
        *training,
        *build_scoring_assets(),
        *build_activation_assets(daily),
    ]
    tables = published_tables({key for a in [*dbt_assets, *python_assets] for key in a.keys})
    python_assets += [
        build_quality_gate(tables),
        build_publication_asset(tables),
        daily_report,
        category_documents,
    ]
    return dg.Definitions(
        assets=[
            *dbt_assets,
            *with_owners_and_code_versions(python_assets),
            daily_baseline,
            *LIVE_JOB_ASSETS,
        ],
        asset_checks=MONITOR_CHECKS,
        jobs=[daily_job, monthly_job, live_job],
        schedules=[build_daily_schedule(daily_job), build_monthly_schedule(monthly_job)],
        sensors=[
            build_landing_sensor(daily_job, daily),
            build_intraday_sensor(live_job),
            alert_on_run_failure,
        ],
        # Dagster's default console unless a run configures it (`siyu run`: one line per step)
        loggers={"console": siyu_console_logger},
        resources={
            "warehouse": WarehouseResource(
                path=str(settings.warehouse_path),
                memory_limit=settings.duckdb_memory_limit,
                temp_directory=str(duckdb_temp_dir(settings.data_dir)),
            ),
            "siyu": SiyuSettingsResource(**settings.as_strings()),
            "dbt": DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=dbt_executable()),
        },
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(Settings.from_env())

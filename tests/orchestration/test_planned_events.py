"""A long single-run backfill records one planned event per asset, not one per day
(orchestration.lib.partitions.planned_events_for_range, used by `siyu run`), on a real Dagster
run in a real (ephemeral) instance; a short range keeps Dagster's per-day events."""

import datetime as dt
import os

import dagster as dg
import pytest

from orchestration.lib.partitions import (
    PARTITION_RANGE_END_TAG,
    PARTITION_RANGE_START_TAG,
    SUBSET_PLANNED_EVENTS_ENV,
    SUBSET_PLANNED_EVENTS_MIN_DAYS,
    daily_partitions,
    planned_events_for_range,
)

START = dt.date(2026, 5, 1)


def _planned_events(days: int) -> tuple[int, bool, int]:
    """(planned events, whether the context set the variable, materialised days) of a run over
    `days` days of a daily-partitioned asset with a single-run backfill policy."""

    @dg.asset(
        partitions_def=daily_partitions(START.isoformat()),
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def extracts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"days": len(context.partition_keys)})

    job = dg.Definitions(
        assets=[extracts], jobs=[dg.define_asset_job("daily", selection=[extracts])]
    ).resolve_job_def("daily")
    end = START + dt.timedelta(days=days - 1)
    instance = dg.DagsterInstance.ephemeral()
    with planned_events_for_range(START, end) as batched:
        result = job.execute_in_process(
            instance=instance,
            tags={PARTITION_RANGE_START_TAG: str(START), PARTITION_RANGE_END_TAG: str(end)},
        )
    assert result.success
    planned = instance.get_records_for_run(
        result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ).records
    return len(planned), batched, len(result.get_asset_materialization_events())


def test_a_long_range_plans_once_and_still_materialises_every_day():
    days = SUBSET_PLANNED_EVENTS_MIN_DAYS + 8
    assert _planned_events(days) == (1, True, days)
    assert SUBSET_PLANNED_EVENTS_ENV not in os.environ  # restored after the run is created


def test_a_short_range_keeps_one_planned_event_per_day():
    days = SUBSET_PLANNED_EVENTS_MIN_DAYS - 1
    assert _planned_events(days) == (days, False, days)


def test_a_value_the_user_set_is_left_alone(monkeypatch):
    monkeypatch.setenv(SUBSET_PLANNED_EVENTS_ENV, "false")
    days = SUBSET_PLANNED_EVENTS_MIN_DAYS + 8
    assert _planned_events(days) == (days, False, days)
    assert os.environ[SUBSET_PLANNED_EVENTS_ENV] == "false"


@pytest.mark.parametrize("days", [1, SUBSET_PLANNED_EVENTS_MIN_DAYS])
def test_the_threshold(days):
    end = START + dt.timedelta(days=days - 1)
    with planned_events_for_range(START, end) as batched:
        assert batched == (days >= SUBSET_PLANNED_EVENTS_MIN_DAYS)

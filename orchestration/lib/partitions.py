"""Partition definitions: one daily partition per business day in Asia/Shanghai."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

BUSINESS_TIMEZONE = "Asia/Shanghai"


def daily_partitions(start_date: str) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=start_date, timezone=BUSINESS_TIMEZONE)


def monthly_partitions(start_date: str) -> dg.MonthlyPartitionsDefinition:
    first = dt.date.fromisoformat(start_date).replace(day=1)
    return dg.MonthlyPartitionsDefinition(start_date=first.isoformat(), timezone=BUSINESS_TIMEZONE)


def days_in_window(start: dt.datetime, end: dt.datetime) -> list[dt.date]:
    """Business days in a partition time window [start, end)."""
    first, last = start.date(), end.date()
    return [first + dt.timedelta(days=i) for i in range((last - first).days)]


PARTITION_TAG = "dagster/partition"
PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


def run_window(tags: dict[str, str]) -> tuple[dt.date, dt.date] | None:
    """The business days [start, end) a run of the daily job covers, from its partition tags.

    The marts, models and publication are unpartitioned assets (they hold the current state);
    they read the window of the partitioned run they belong to from here. None outside such a run.
    """
    if tags.get(PARTITION_RANGE_START_TAG) and tags.get(PARTITION_RANGE_END_TAG):
        start = dt.date.fromisoformat(tags[PARTITION_RANGE_START_TAG][:10])
        last = dt.date.fromisoformat(tags[PARTITION_RANGE_END_TAG][:10])
    elif tags.get(PARTITION_TAG):
        start = last = dt.date.fromisoformat(tags[PARTITION_TAG][:10])
    else:
        return None
    return start, last + dt.timedelta(days=1)


# Dagster records one ASSET_MATERIALIZATION_PLANNED event per asset and partition when a
# single-run backfill starts (730 for two years of `raw/extracts`: 16 s of a 43 s backfill in the
# SQLite run storage), or, with this variable set, one per asset that holds the partition subset.
# What it costs: the partitions of such a run that fails show as missing in the UI, not as
# failed (the run itself shows failed). So it is set for long ranges only.
SUBSET_PLANNED_EVENTS_ENV = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"
SUBSET_PLANNED_EVENTS_MIN_DAYS = 32


@contextmanager
def planned_events_for_range(start: dt.date, end: dt.date) -> Iterator[bool]:
    """While a run over [start, end] is created: one planned event per asset instead of one per
    day when the range spans SUBSET_PLANNED_EVENTS_MIN_DAYS days or more. Yields whether it did.
    A value the user set for the variable is left alone."""
    days = (end - start).days + 1
    if days < SUBSET_PLANNED_EVENTS_MIN_DAYS or SUBSET_PLANNED_EVENTS_ENV in os.environ:
        yield False
        return
    os.environ[SUBSET_PLANNED_EVENTS_ENV] = "true"
    try:
        yield True
    finally:
        os.environ.pop(SUBSET_PLANNED_EVENTS_ENV, None)

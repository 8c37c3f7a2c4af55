"""Partition definitions: one daily partition per business day in Asia/Shanghai."""

from __future__ import annotations

import datetime as dt

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

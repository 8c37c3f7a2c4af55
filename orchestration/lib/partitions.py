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

"""Which points of the retention curve are worth drawing, and the sentence naming the others.

A point of the curve (day N, first channel) pools every cohort of that channel old enough for day
N: retained persons over cohort persons, i.e. the cohorts' day-N rates weighted by cohort size.
A point that pools very few persons is noise, not a finding: a 1-person channel draws 0% or 100%.
"""

from __future__ import annotations

import duckdb
import pandas as pd

# Below 20 persons one person moves a point by more than 5 percentage points, more than the gaps
# between channels the chart is read for (D30 retention spans 6.7%..19.2% across the interaction
# buckets of the demo). The demo's smallest channel (wecom, 15% of 20,000 registrations) pools
# well over a thousand persons per point, so the cut only removes channels that are accidents.
MIN_COHORT_SIZE = 20


def split_retention_curve(
    curve: pd.DataFrame, min_cohort_size: int = MIN_COHORT_SIZE
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(plotted, left_out) rows of a pooled curve (day_n, cohort_channel, retention, cohort_size):
    a point is plotted when it pools at least ``min_cohort_size`` persons."""
    big_enough = curve["cohort_size"] >= min_cohort_size
    return curve[big_enough].reset_index(drop=True), curve[~big_enough].reset_index(drop=True)


def _day_ranges(days: list[int]) -> str:
    """[1, 2, 3, 7, 9, 10] -> '1-3, 7, 9-10'."""
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def _persons(low: int, high: int) -> str:
    if low == high:
        return f"{low} person" if low == 1 else f"{low} persons"
    return f"{low}-{high} persons"


def left_out_lines(curve: pd.DataFrame, min_cohort_size: int = MIN_COHORT_SIZE) -> list[str]:
    """Markdown lines saying which channels (and which of their days) the chart leaves out."""
    _, left_out = split_retention_curve(curve, min_cohort_size)
    if left_out.empty:
        return [f"Every point pools at least {min_cohort_size} persons; none is left out."]
    lines = [
        f"Left out (a point pooling fewer than {min_cohort_size} persons is noise; "
        "`reporting.retention.MIN_COHORT_SIZE`):"
    ]
    all_days = curve.groupby("cohort_channel")["day_n"].apply(set)
    for channel, part in left_out.groupby("cohort_channel", sort=True):
        days = sorted(int(d) for d in part["day_n"])
        which = "every day N" if set(days) == all_days[channel] else f"day N {_day_ranges(days)}"
        sizes = _persons(int(part["cohort_size"].min()), int(part["cohort_size"].max()))
        lines.append(f"- `{channel}`: {which} ({sizes})")
    return lines


def read_retention_curve(
    con: duckdb.DuckDBPyConnection, min_cohort_size: int = MIN_COHORT_SIZE
) -> pd.DataFrame:
    """Return on day N by first channel (day_n, cohort_channel, retention, cohort_size), pooled
    from marts.retention_cohorts over every cohort old enough for day N: retained persons over
    cohort persons, i.e. the cohorts' rates weighted by their size; cohort_size is the persons
    pooled. Points pooling fewer than ``min_cohort_size`` persons are left out
    (``reporting.retention.MIN_COHORT_SIZE`` says why; 0 keeps every point). Used by the
    retention-curve check and the report."""
    curve = con.execute(
        "select day_n, cohort_channel, sum(retained_users) * 1.0 / sum(cohort_size) as retention, "
        "cast(sum(cohort_size) as bigint) as cohort_size "
        "from marts.retention_cohorts where day_n > 0 group by 1, 2 order by 1, 2"
    ).df()
    return split_retention_curve(curve, min_cohort_size)[0]

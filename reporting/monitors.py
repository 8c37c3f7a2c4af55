"""The business alarms of the seed, judged on the latest day of the marts.

Every limit is a row of the dbt seed `kpi_targets` (dbt_project/seeds/kpi_targets.csv, built into
the build database as `seeds.kpi_targets`): the KPI cockpit (kpi_daily) and these alarms read the
same row, so a limit is changed in one place. Functions read the marts through a connection the
caller owns and return frozen results; the Dagster checks (orchestration/defs/monitors.py) turn
them into WARN check results.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pandas as pd

KPI_TARGETS_TABLE = "seeds.kpi_targets"
KPI_TARGETS_CSV = "dbt_project/seeds/kpi_targets.csv"
KPI_COLUMNS = ["kpi", "value", "target", "status", "trailing_28d", "change_pct", "is_anomaly"]


@dataclass(frozen=True)
class KpiLimit:
    """One row of kpi_targets: the target (the alarm limit), which side of it is good, and the
    relative move from the trailing 28-day level that counts as an anomaly."""

    kpi: str
    target: float
    direction: str  # higher_is_better | lower_is_better
    anomaly_threshold: float
    unit: str  # share (fraction 0-1) | touches

    def within(self, value: float) -> bool:
        if self.direction == "higher_is_better":
            return value >= self.target
        return value <= self.target

    def show(self, value: float, decimals: int = 0) -> str:
        return f"{value:.{decimals}%}" if self.unit == "share" else f"{value:.{decimals}f}"


def read_kpi_limits(con: duckdb.DuckDBPyConnection) -> dict[str, KpiLimit]:
    """Every row of seeds.kpi_targets, by kpi."""
    rows = con.execute(
        f"select kpi, target, direction, anomaly_threshold, unit from {KPI_TARGETS_TABLE}"
    ).fetchall()
    return {
        kpi: KpiLimit(kpi, float(target), direction, float(threshold), unit or "share")
        for kpi, target, direction, threshold, unit in rows
    }


def kpi_limit(con: duckdb.DuckDBPyConnection, kpi: str) -> KpiLimit:
    """The kpi_targets row of `kpi`; a missing row is an error naming the file to edit."""
    limits = read_kpi_limits(con)
    if kpi not in limits:
        raise KeyError(
            f"{KPI_TARGETS_TABLE} has no row for kpi {kpi!r}: add it to {KPI_TARGETS_CSV} "
            "and run dbt seed"
        )
    return limits[kpi]


@dataclass(frozen=True)
class ThresholdReading:
    """A measure of the latest day of engagement_daily against its kpi_targets limit."""

    column: str
    limit: KpiLimit
    date: dt.date | None  # None: engagement_daily has no day yet
    value: float | None  # None: no day, or the day has no measurement

    @property
    def measured(self) -> bool:
        return self.value is not None

    @property
    def passed(self) -> bool:
        """Within the limit; a day without a measurement passes (nothing to alarm on)."""
        return self.value is None or self.limit.within(self.value)

    @property
    def finding(self) -> str | None:
        """The alarm in one line (None when within the limit)."""
        if self.passed:
            return None
        side = "below" if self.limit.direction == "higher_is_better" else "above"
        return (
            f"{self.column} {self.limit.show(self.value, 1)} on {self.date}, "
            f"{side} {self.limit.show(self.limit.target)}"
        )


def read_threshold(con: duckdb.DuckDBPyConnection, column: str) -> ThresholdReading:
    """`column` of the latest day of marts.engagement_daily against the kpi_targets row of the
    same name (the engagement measures and their KPIs share names)."""
    limit = kpi_limit(con, column)
    latest = con.execute("select * from marts.engagement_daily order by date desc limit 1").df()
    if latest.empty:
        return ThresholdReading(column, limit, None, None)
    row = latest.iloc[0]
    day = pd.Timestamp(row["date"]).date()
    value = None if pd.isna(row[column]) else float(row[column])
    return ThresholdReading(column, limit, day, value)


@dataclass(frozen=True)
class KpiAnomalies:
    """The latest day of kpi_daily (the KPI status table) and the KPIs flagged as anomalies."""

    latest: pd.DataFrame  # KPI_COLUMNS, one row per KPI, by kpi
    anomalies: pd.DataFrame  # the rows of `latest` with is_anomaly
    limits: dict[str, KpiLimit]

    @property
    def passed(self) -> bool:
        return self.anomalies.empty

    @property
    def red(self) -> int:
        return int((self.latest["status"] == "red").sum())

    @property
    def finding(self) -> str | None:
        """Each moving KPI with its move, against the kpi_targets anomaly threshold."""
        if self.passed:
            return None
        thresholds = {
            r.kpi: self.limits[r.kpi].anomaly_threshold if r.kpi in self.limits else None
            for r in self.anomalies.itertuples()
        }
        shared = set(thresholds.values())
        parts = []
        for r in self.anomalies.itertuples():
            part = f"{r.kpi} {r.change_pct:+.0%}" if pd.notna(r.change_pct) else str(r.kpi)
            if len(shared) > 1 and thresholds[r.kpi] is not None:
                part += f" (threshold {thresholds[r.kpi]:.0%})"
            parts.append(part)
        moved = ", ".join(parts)
        only = next(iter(shared)) if len(shared) == 1 else None
        bound = f"more than {only:.0%}" if only is not None else "more than their thresholds"
        return f"moved {bound} from trailing 28 days: {moved}"


def read_kpi_anomalies(con: duckdb.DuckDBPyConnection) -> KpiAnomalies:
    """The KPIs of the latest day of marts.kpi_daily; anomalies as kpi_daily flagged them (with
    the seed's anomaly_threshold, in dbt)."""
    latest = con.execute(
        f"select {', '.join(KPI_COLUMNS)} from marts.kpi_daily "
        "where date = (select max(date) from marts.kpi_daily) order by kpi"
    ).df()
    anomalies = latest[latest["is_anomaly"].fillna(False).astype(bool)]
    return KpiAnomalies(latest, anomalies, read_kpi_limits(con))


LAYER_COLUMNS = [
    "layer_type",
    "layer_value",
    "persons",
    "interaction_rate",
    "target",
    "meets_target",
    "trailing_28d",
    "change_pct",
    "is_anomaly",
]


@dataclass(frozen=True)
class LayerEngagement:
    """The latest day of engagement_by_layer: the layers below their target and the layers whose
    interaction rate moved beyond the anomaly threshold (both decided in dbt from the kpi_targets
    rows, macros/measurement/kpi_rules.sql)."""

    date: dt.date | None  # None: engagement_by_layer has no day yet
    latest: pd.DataFrame  # LAYER_COLUMNS, one row per layer, by layer_type and layer_value

    @property
    def below_target(self) -> pd.DataFrame:
        met = self.latest["meets_target"]
        return self.latest[met.notna() & ~met.fillna(True).astype(bool)]

    @property
    def anomalies(self) -> pd.DataFrame:
        return self.latest[self.latest["is_anomaly"].fillna(False).astype(bool)]

    @property
    def passed(self) -> bool:
        return self.below_target.empty and self.anomalies.empty

    @property
    def finding(self) -> str | None:
        """The layers below target and the moving layers, in one line."""
        if self.passed:
            return None
        parts = []
        if not self.below_target.empty:
            below = ", ".join(
                f"{r.layer_type} {r.layer_value} {r.interaction_rate:.1%} (target {r.target:.0%})"
                for r in self.below_target.itertuples()
            )
            parts.append(f"below target on {self.date}: {below}")
        if not self.anomalies.empty:
            moved = ", ".join(
                f"{r.layer_type} {r.layer_value} {r.change_pct:+.0%}"
                for r in self.anomalies.itertuples()
            )
            parts.append(f"moved beyond the anomaly threshold from trailing 28 days: {moved}")
        return "; ".join(parts)


def read_layer_engagement(con: duckdb.DuckDBPyConnection) -> LayerEngagement:
    """The layers of the latest day of marts.engagement_by_layer."""
    latest = con.execute(
        f"select date, {', '.join(LAYER_COLUMNS)} from marts.engagement_by_layer "
        "where date = (select max(date) from marts.engagement_by_layer) "
        "order by layer_type, layer_value"
    ).df()
    day = None if latest.empty else pd.Timestamp(latest["date"].iloc[0]).date()
    return LayerEngagement(day, latest[LAYER_COLUMNS])

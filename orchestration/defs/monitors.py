"""Business alarms from the seed as WARN checks (they never block publication: a real finding is
not a data error), and the pictures a person would rather look at than read."""

import base64
from functools import partial

import dagster as dg
import pandas as pd

from orchestration.lib.resources import WarehouseResource
from reporting.retention import MIN_COHORT_SIZE, left_out_lines, split_retention_curve
from reporting.retention import read_retention_curve as retention_curve_frame

ENGAGEMENT_KEY = dg.AssetKey(["marts", "engagement_daily"])
KPI_KEY = dg.AssetKey(["marts", "kpi_daily"])
RETENTION_KEY = dg.AssetKey(["marts", "retention_cohorts"])

# Thresholds of seed 000: over-touch alarm above 5% (2.4.2, 7.2), community share at most 40%
# (2.3.1), human takeover within 2 hours (2.4.3; alarm when more than 5% of chats breach).
OVER_TOUCH_ALARM = 0.05
COMMUNITY_SHARE_CAP = 0.40
SLA_BREACH_ALARM = 0.05


def _png_md(png: bytes) -> str:
    return f"![plot](data:image/png;base64,{base64.b64encode(png).decode()})"


def _read(
    warehouse: WarehouseResource, read
) -> tuple[pd.DataFrame | None, dg.AssetCheckResult | None]:
    """Run `read(con)`; a read that fails becomes a failed WARN result naming the error."""
    try:
        with warehouse.connect(read_only=True) as con:
            return read(con), None
    except Exception as exc:
        return None, dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"error": f"{type(exc).__name__}: {exc}"},
        )


def _threshold_check(name: str, column: str, limit: float, description: str):
    @dg.asset_check(asset=ENGAGEMENT_KEY, name=name, description=description, blocking=False)
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        frame, error = _read(
            warehouse,
            lambda con: con.execute(
                "select * from marts.engagement_daily order by date desc limit 1"
            ).df(),
        )
        if error:
            return error
        row = None if frame.empty else frame.iloc[0]
        if row is None or pd.isna(row[column]):
            return dg.AssetCheckResult(
                passed=True,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"note": "no measurement yet"},
            )
        value = float(row[column])
        day = pd.Timestamp(row["date"]).date()
        return dg.AssetCheckResult(
            passed=value <= limit,
            severity=dg.AssetCheckSeverity.WARN,
            description=None
            if value <= limit
            else f"{column} {value:.1%} on {day}, above {limit:.0%}",
            metadata={"date": str(pd.Timestamp(row["date"]).date()), column: value, "limit": limit},
        )

    return _check


over_touch_3d = _threshold_check(
    "over_touch_3d_alarm",
    "over_touch_3d_share",
    OVER_TOUCH_ALARM,
    "Share of users touched on 3 consecutive days stays at or below 5% (seed 2.4.2).",
)
over_touch_7d = _threshold_check(
    "over_touch_7d_alarm",
    "over_touch_7d_share",
    OVER_TOUCH_ALARM,
    "Share of users touched on 7 consecutive days stays at or below 5% (seed 7.2).",
)
community_share = _threshold_check(
    "community_share_cap",
    "community_share",
    COMMUNITY_SHARE_CAP,
    "Group (community) touches stay at or below 40% of outbound touches (seed 2.3.1).",
)
sla_breach = _threshold_check(
    "sla_2h_breach",
    "sla_2h_breach_rate",
    SLA_BREACH_ALARM,
    "Inbound 1:1 chats answered by a person within 2 hours (seed 2.4.3).",
)


@dg.asset_check(
    asset=KPI_KEY,
    name="kpi_anomalies",
    blocking=False,
    description="No KPI moved more than +-15% from its trailing 28-day level (seed 3.4); "
    "the KPI status table is in the metadata.",
)
def kpi_anomalies(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    latest, error = _read(
        warehouse,
        lambda con: con.execute(
            "select kpi, value, target, status, trailing_28d, change_pct, is_anomaly "
            "from marts.kpi_daily where date = (select max(date) from marts.kpi_daily) order by kpi"
        ).df(),
    )
    if error:
        return error
    anomalies = latest[latest["is_anomaly"].fillna(False).astype(bool)]
    moved = ", ".join(
        f"{r.kpi} {r.change_pct:+.0%}" if pd.notna(r.change_pct) else str(r.kpi)
        for r in anomalies.itertuples()
    )
    return dg.AssetCheckResult(
        passed=anomalies.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description=None
        if anomalies.empty
        else f"moved more than 15% from trailing 28 days: {moved}",
        metadata={
            "anomalies": ", ".join(anomalies["kpi"]) or "none",
            "red": int((latest["status"] == "red").sum()),
            "kpi_status": dg.MetadataValue.md(latest.to_markdown(index=False, floatfmt=".3f")),
        },
    )


@dg.asset_check(
    asset=RETENTION_KEY,
    name="retention_curve",
    blocking=False,
    description="The retention curve by first channel (day 0..30), as a picture.",
)
def retention_curve(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    # every point, so the points too small to draw can be named rather than dropped silently
    every_point, error = _read(warehouse, partial(retention_curve_frame, min_cohort_size=0))
    if error:
        return error
    if every_point.empty:
        return dg.AssetCheckResult(
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"note": "no cohort old enough yet"},
        )
    curve, _ = split_retention_curve(every_point)
    left_out = dg.MetadataValue.md("\n".join(left_out_lines(every_point)))
    if curve.empty:
        return dg.AssetCheckResult(
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "note": f"no point pools at least {MIN_COHORT_SIZE} persons yet",
                "left_out": left_out,
            },
        )
    from ml.plots import line_plot  # matplotlib: only when a curve is drawn

    png = line_plot(
        curve,
        x="day_n",
        y="retention",
        hue="cohort_channel",
        percent=True,
        title="Return on day N by first channel",
        xlabel="day N",
        ylabel="retained",
    )
    d30 = curve[curve["day_n"] == curve["day_n"].max()]
    return dg.AssetCheckResult(
        passed=True,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "curve": dg.MetadataValue.md(_png_md(png)),
            "last_day_n": int(curve["day_n"].max()),
            "retention_last_day": dg.MetadataValue.md(d30.to_markdown(index=False, floatfmt=".3f")),
            "left_out": left_out,
        },
    )


MONITOR_CHECKS = [
    over_touch_3d,
    over_touch_7d,
    community_share,
    sla_breach,
    kpi_anomalies,
    retention_curve,
]

"""Business alarms from the seed as WARN checks (they never block publication: a real finding is
not a data error), and the pictures a person would rather look at than read."""

import base64
from collections.abc import Callable
from functools import partial
from typing import TypeVar

import dagster as dg
import duckdb

from orchestration.lib.resources import WarehouseResource
from reporting.monitors import read_kpi_anomalies, read_layer_engagement, read_threshold
from reporting.retention import MIN_COHORT_SIZE, left_out_lines, split_retention_curve
from reporting.retention import read_retention_curve as retention_curve_frame

ENGAGEMENT_KEY = dg.AssetKey(["marts", "engagement_daily"])
KPI_KEY = dg.AssetKey(["marts", "kpi_daily"])
LAYER_KEY = dg.AssetKey(["marts", "engagement_by_layer"])
RETENTION_KEY = dg.AssetKey(["marts", "retention_cohorts"])
T = TypeVar("T")


def _png_md(png: bytes) -> str:
    return f"![plot](data:image/png;base64,{base64.b64encode(png).decode()})"


def _read(
    warehouse: WarehouseResource, read: Callable[[duckdb.DuckDBPyConnection], T]
) -> tuple[T | None, dg.AssetCheckResult | None]:
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


def _threshold_check(name: str, column: str, description: str):
    """A WARN check of `column` on the latest day of engagement_daily against its limit, the row
    of the same name in the dbt seed kpi_targets (the descriptions quote the plan; the seed row
    is the one definition the check and kpi_daily both read)."""

    @dg.asset_check(asset=ENGAGEMENT_KEY, name=name, description=description, blocking=False)
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        reading, error = _read(warehouse, partial(read_threshold, column=column))
        if error:
            return error
        if not reading.measured:
            return dg.AssetCheckResult(
                passed=True,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"note": "no measurement yet"},
            )
        return dg.AssetCheckResult(
            passed=reading.passed,
            severity=dg.AssetCheckSeverity.WARN,
            description=reading.finding,
            metadata={
                "date": str(reading.date),
                column: reading.value,
                "limit": reading.limit.target,
            },
        )

    return _check


over_touch_3d = _threshold_check(
    "over_touch_3d_alarm",
    "over_touch_3d_share",
    "Share of users touched on 3 consecutive days stays at or below 5% (seed 2.4.2).",
)
over_touch_7d = _threshold_check(
    "over_touch_7d_alarm",
    "over_touch_7d_share",
    "Share of users touched on 7 consecutive days stays at or below 5% (seed 7.2).",
)
community_share = _threshold_check(
    "community_share_cap",
    "community_share",
    "Group (community) touches stay at or below 40% of outbound touches (seed 2.3.1).",
)
sla_breach = _threshold_check(
    "sla_2h_breach",
    "sla_2h_breach_rate",
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
    kpis, error = _read(warehouse, read_kpi_anomalies)
    if error:
        return error
    return dg.AssetCheckResult(
        passed=kpis.passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=kpis.finding,
        metadata={
            "anomalies": ", ".join(kpis.anomalies["kpi"]) or "none",
            "red": kpis.red,
            "kpi_status": dg.MetadataValue.md(kpis.latest.to_markdown(index=False, floatfmt=".3f")),
        },
    )


@dg.asset_check(
    asset=LAYER_KEY,
    name="layer_interaction_targets",
    blocking=False,
    description="Every user layer with a target reaches it (seed 8.1: high-value users 60%) and "
    "no layer's interaction rate moved more than +-15% from its trailing 28-day level (seed 3.4); "
    "the day's layers are in the metadata.",
)
def layer_interaction_targets(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    layers, error = _read(warehouse, read_layer_engagement)
    if error:
        return error
    if layers.date is None:
        return dg.AssetCheckResult(
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"note": "no measurement yet"},
        )
    return dg.AssetCheckResult(
        passed=layers.passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=layers.finding,
        metadata={
            "date": str(layers.date),
            "below_target": ", ".join(layers.below_target["layer_value"]) or "none",
            "anomalies": ", ".join(
                f"{r.layer_type}/{r.layer_value}" for r in layers.anomalies.itertuples()
            )
            or "none",
            "layers": dg.MetadataValue.md(layers.latest.to_markdown(index=False, floatfmt=".3f")),
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
    layer_interaction_targets,
    retention_curve,
]

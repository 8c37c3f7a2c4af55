"""The dated, versioned daily report (seed 001), written from what was just published."""

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from orchestration.defs.publication import PUBLICATION_KEY
from orchestration.lib.resources import SiyuSettingsResource
from reporting.retention import read_retention_curve as retention_curve

REPORT_KEY = dg.AssetKey(["reports", "daily_report"])


@dg.asset(
    key=REPORT_KEY,
    deps=[PUBLICATION_KEY],
    group_name="serving",
    kinds={"markdown"},
    description="YYYY-MM-DD_RPT_daily_vN.md in SIYU_REPORTS_DIR: KPIs, registration trend and "
    "channel charts, retention curves, a change log; index.md lists every version.",
)
def daily_report(siyu: SiyuSettingsResource) -> dg.MaterializeResult:
    # matplotlib: imported when a report is drawn, not when the definitions load
    from reporting.daily import ReportInputs, inline_images, write_report

    # reads the published file, like any BI tool: the report shows what was served
    with duckdb.connect(siyu.serving_path, read_only=True) as con:
        version = con.execute("select version from marts._publication").fetchone()[0]
        report_date = con.execute("select max(date) from marts.kpi_daily").fetchone()[0]
        kpis = con.execute(
            "select kpi, value, target, status, trailing_28d, change_pct, is_anomaly "
            "from marts.kpi_daily where date = ?",
            [report_date],
        ).df()
        registrations = con.execute(
            "select first_seen_date as date, first_channel as channel, count(*) as registrations "
            "from marts.dim_users group by 1, 2 order by 1, 2"
        ).df()
        # every point, however small: the report draws the big ones and names the others
        retention = retention_curve(con, min_cohort_size=0)
    path = write_report(
        ReportInputs(pd.Timestamp(report_date).date(), version, kpis, registrations, retention),
        Path(siyu.reports_dir),
    )
    return dg.MaterializeResult(
        metadata={
            "report": str(path),
            "publication_version": version,
            "index": str(Path(siyu.reports_dir) / "index.md"),
            # the UI cannot resolve the file's relative image links: embed the charts
            "preview": dg.MetadataValue.md(
                inline_images(path.read_text(encoding="utf-8"), path.parent)
            ),
        }
    )

"""The dated, versioned daily report (seed 001), written from what was just published."""

from pathlib import Path

import dagster as dg

from orchestration.defs.publication import PUBLICATION_KEY
from orchestration.lib.resources import SiyuSettingsResource
from warehouse.connection import connect

REPORT_KEY = dg.AssetKey(["reports", "daily_report"])


@dg.asset(
    key=REPORT_KEY,
    deps=[PUBLICATION_KEY],
    group_name="serving",
    kinds={"markdown"},
    description="YYYY-MM-DD_RPT_daily_vN.md in SIYU_REPORTS_DIR: KPIs, the registration funnel, "
    "member satisfaction, registration trend and channel charts, retention curves, a change log; "
    "index.md lists every version.",
)
def daily_report(siyu: SiyuSettingsResource) -> dg.MaterializeResult:
    # matplotlib: imported when a report is drawn, not when the definitions load
    from reporting.daily import inline_images, read_report_inputs, write_report

    # reads the published file, like any BI tool: the report shows what was served
    with connect(siyu.serving_path, read_only=True) as con:
        inputs = read_report_inputs(con)
    path = write_report(inputs, Path(siyu.reports_dir))
    return dg.MaterializeResult(
        metadata={
            "report": str(path),
            "publication_version": inputs.publication_version,
            "index": str(Path(siyu.reports_dir) / "index.md"),
            # the UI cannot resolve the file's relative image links: embed the charts
            "preview": dg.MetadataValue.md(
                inline_images(path.read_text(encoding="utf-8"), path.parent)
            ),
        }
    )

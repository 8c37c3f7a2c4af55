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
    from reporting.daily import read_report_inputs, write_report
    from reporting.documents import inline_images

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


CATEGORY_DOCUMENTS_KEY = dg.AssetKey(["reports", "category_documents"])


@dg.asset(
    key=CATEGORY_DOCUMENTS_KEY,
    deps=[PUBLICATION_KEY],
    group_name="serving",
    kinds={"markdown", "html"},
    description="The day's REG (registrations), ACT (campaigns and experiments) and FBK "
    "(feedback) documents in SIYU_REPORTS_DIR, named and versioned like the RPT report, each also "
    "a self-contained HTML page; index.md and index.html list every document by category.",
)
def category_documents(siyu: SiyuSettingsResource) -> dg.MaterializeResult:
    from reporting.categories import write_category_documents

    with connect(siyu.serving_path, read_only=True) as con:
        paths = write_category_documents(con, Path(siyu.reports_dir))
    return dg.MaterializeResult(
        metadata={
            "documents": dg.MetadataValue.md("\n".join(f"- `{p.name}`" for p in paths)),
            "index": str(Path(siyu.reports_dir) / "index.html"),
        }
    )

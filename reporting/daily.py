"""The daily operations report: `YYYY-MM-DD_RPT_<name>_vN.md` with charts, a change log and an index.

Seed 001 asks for documents named by date and type, version numbers, a change log, archived old
versions and an index; charts: the registration trend (line), registrations by channel (bars),
retention curves; and, from its data-driven decisions, the registration funnel's bottleneck and
member satisfaction (sections from `reporting.members`). Rendering is pure (frames in, files' contents out); `write_report` does the I/O.

The file links its charts by relative path (PNG files beside it): any markdown viewer opened on
the reports folder shows them, and versions stay small and diffable. Viewers that cannot resolve
a path next to the file (the Dagster UI's preview) get `inline_images`, the same text with the
charts embedded as base64 data URIs; every version is also written as a self-contained HTML page.
The other document types (REG, ACT, FBK) are in `reporting/categories.py`; the naming, the HTML
and the index by category in `reporting/documents.py`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from ml.plots import figure_png, line_plot
from reporting.documents import write_html, write_index
from reporting.members import funnel_lines, satisfaction_lines
from reporting.retention import left_out_lines, read_retention_curve, split_retention_curve

REPORT_NAME = "daily"
FILE_PATTERN = re.compile(r"^(\d{4}-\d{2}-\d{2})_RPT_(\w+)_v(\d+)\.md$")


@dataclass
class ReportInputs:
    report_date: dt.date  # the business day the report covers
    publication_version: str
    kpis: pd.DataFrame  # kpi, value, target, status, trailing_28d, change_pct, is_anomaly
    registrations: pd.DataFrame  # date, channel, registrations (daily, history)
    # day_n, cohort_channel, retention, cohort_size (persons pooled): every point, however small
    retention: pd.DataFrame
    # marts.registration_funnel and marts.feedback_satisfaction (empty when not published)
    funnel: pd.DataFrame = field(default_factory=pd.DataFrame)
    satisfaction: pd.DataFrame = field(default_factory=pd.DataFrame)


def read_report_inputs(con: duckdb.DuckDBPyConnection) -> ReportInputs:
    """What the report shows, read from a published serving file (schema marts), the way any BI
    tool reads it, so the report shows what was served: the publication version, the KPIs of the
    latest day of kpi_daily, daily registrations by first channel over the whole history, every
    point of the retention curve (the report draws the big ones and names the others), and the
    registration funnel and feedback satisfaction marts (empty when the file has none)."""
    ((version,),) = con.execute("select version from marts._publication").fetchall()
    ((report_date,),) = con.execute("select max(date) from marts.kpi_daily").fetchall()
    if report_date is None:
        raise ValueError("marts.kpi_daily is empty in the published file: no day to report on")
    kpis = con.execute(
        "select kpi, value, target, status, trailing_28d, change_pct, is_anomaly "
        "from marts.kpi_daily where date = ?",
        [report_date],
    ).df()
    registrations = con.execute(
        "select first_seen_date as date, first_channel as channel, count(*) as registrations "
        "from marts.dim_users group by 1, 2 order by 1, 2"
    ).df()
    retention = read_retention_curve(con, min_cohort_size=0)
    return ReportInputs(
        pd.Timestamp(report_date).date(),
        version,
        kpis,
        registrations,
        retention,
        funnel=_published(con, "registration_funnel"),
        satisfaction=_published(con, "feedback_satisfaction"),
    )


def _published(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame:
    """A published mart whole, or an empty frame when the serving file predates it."""
    ((exists,),) = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'marts' "
        "and table_name = ?",
        [table],
    ).fetchall()
    return con.execute(f"select * from marts.{table}").df() if exists else pd.DataFrame()


def _bar_png(totals: pd.Series, title: str) -> bytes:
    fig = Figure(figsize=(6, 3.2))
    ax = fig.add_subplot()
    ax.bar(totals.index.astype(str), totals.to_numpy(), color="#4c78a8")
    ax.set_title(title)
    ax.set_ylabel("registrations")
    fig.tight_layout()
    return figure_png(fig)


def retention_figure(curve: pd.DataFrame) -> Figure:
    """Return on day N, one line per first channel (the points worth plotting)."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    for channel, part in curve.groupby("cohort_channel", sort=True):
        part = part.sort_values("day_n")
        ax.plot(
            part["day_n"],
            part["retention"],
            marker="o",
            markersize=3,
            linewidth=1.2,
            label=str(channel),
        )
    ax.legend(title="first channel", fontsize="small")
    # decimals from the axis range: whole percents repeat labels once the range is below ~5%
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))
    ax.set(title="Return on day N by first channel", xlabel="day N", ylabel="retained")
    ax.grid(alpha=0.3)
    return fig


def render(
    inputs: ReportInputs, version: int, previous_kpis: pd.DataFrame | None
) -> tuple[str, dict[str, bytes]]:
    """Markdown text and the chart files (name -> PNG bytes) of one report version."""
    stem = f"{inputs.report_date.isoformat()}_RPT_{REPORT_NAME}_v{version}"
    trend = inputs.registrations.groupby("date", as_index=False)["registrations"].sum()
    charts = {
        f"{stem}_registrations_trend.png": line_plot(
            trend.assign(series="all"),
            x="date",
            y="registrations",
            hue="series",
            title="Registrations per day",
            xlabel="date",
            ylabel="registrations",
        ),
        f"{stem}_registrations_by_channel.png": _bar_png(
            inputs.registrations.groupby("channel")["registrations"]
            .sum()
            .sort_values(ascending=False),
            "Registrations by channel",
        ),
    }
    plotted, _ = split_retention_curve(inputs.retention)
    if not plotted.empty:
        charts[f"{stem}_retention_curves.png"] = figure_png(retention_figure(plotted))
    kpis = inputs.kpis.sort_values("kpi")
    lines = [
        f"# Daily operations report {inputs.report_date.isoformat()} (v{version})",
        "",
        f"Data: publication `{inputs.publication_version}`. Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        "## KPIs",
        "",
        kpis.to_markdown(index=False, floatfmt=".3f") if len(kpis) else "No KPI measurable yet.",
        "",
        "## Registration funnel",
        "",
        *funnel_lines(inputs.funnel),
        "",
        "## Member satisfaction",
        "",
        *satisfaction_lines(inputs.satisfaction),
        "",
        "## Charts",
        "",
        *[f"![{name}]({name})" for name in charts],
        "",
        "Retention curves: each point pools every cohort of the first channel old enough for "
        "day N, weighted by cohort size (retained persons over cohort persons).",
        "",
        *(
            left_out_lines(inputs.retention)
            if len(inputs.retention)
            else ["No cohort is old enough for day 1 yet."]
        ),
        "",
        "## Change log",
        "",
        *change_log(kpis, previous_kpis, version),
        "",
    ]
    return "\n".join(lines), charts


def change_log(kpis: pd.DataFrame, previous: pd.DataFrame | None, version: int) -> list[str]:
    """What changed against the previous version of the same day's report."""
    if previous is None or version == 1:
        return ["- v1: first version of this day's report."]
    merged = kpis.merge(previous, on="kpi", how="outer", suffixes=("", "_before"))
    now = pd.to_numeric(merged["value"], errors="coerce")
    before = pd.to_numeric(merged["value_before"], errors="coerce")
    # a not_measured KPI (null value) in both versions is unchanged; one that appears or goes is not
    differs = (now - before).abs() > 1e-9
    changed = merged[differs | (now.isna() != before.isna())]
    if changed.empty:
        return [f"- v{version}: regenerated; no KPI value changed."]
    return [
        f"- v{version}: {r.kpi} {_log_value(r.value_before)} -> {_log_value(r.value)}"
        for r in changed.itertuples()
    ]


def _log_value(value: float | None) -> str:
    return "not measured" if pd.isna(value) else f"{value:.3f}"


def _versions(reports_dir: Path, day: dt.date) -> list[int]:
    out = []
    for p in reports_dir.glob(f"{day.isoformat()}_RPT_{REPORT_NAME}_v*.md"):
        m = FILE_PATTERN.match(p.name)
        if m:
            out.append(int(m.group(3)))
    return sorted(out)


def write_report(inputs: ReportInputs, reports_dir: Path) -> Path:
    """Write the next version of the day's report beside its KPI snapshot (`_kpis.csv`, which the
    next version's change log compares against); earlier versions stay; rewrite the index."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    versions = _versions(reports_dir, inputs.report_date)
    version = (versions or [0])[-1] + 1
    previous_kpis = None
    if versions:
        snapshot = (
            reports_dir
            / f"{inputs.report_date.isoformat()}_RPT_{REPORT_NAME}_v{versions[-1]}_kpis.csv"
        )
        if snapshot.exists():
            previous_kpis = pd.read_csv(snapshot)[["kpi", "value"]]
    text, charts = render(inputs, version, previous_kpis)
    inputs.kpis.to_csv(
        reports_dir / f"{inputs.report_date.isoformat()}_RPT_{REPORT_NAME}_v{version}_kpis.csv",
        index=False,
    )
    for name, png in charts.items():
        (reports_dir / name).write_bytes(png)
    path = reports_dir / f"{inputs.report_date.isoformat()}_RPT_{REPORT_NAME}_v{version}.md"
    path.write_text(text, encoding="utf-8")
    write_html(path)  # the self-contained page, charts embedded (reporting/documents.py)
    write_index(reports_dir)  # every category's documents
    return path

"""The day's documents besides the operations report (RPT): REG (registrations), ACT (campaigns
and experiments) and FBK (customer feedback), seed 001's categories, named and versioned like RPT
(`reporting/documents.py`).

Each reads the published serving file (schema `marts`), the way a BI tool does, so a document
shows what was served. A mart the publication does not hold (a brand without the source, or a
platform version before the mart) is named as missing, never guessed. Rendering is pure: a
connection in, `Document`s out; `write_category_documents` does the I/O.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ml.plots import figure_png, line_plot
from reporting.documents import Document, write_document

TREND_DAYS = 28  # the registration trend drawn in REG
FORECAST_DAYS = 7  # the forecast days tabled in REG


def _table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    ((found,),) = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'marts' "
        "and table_name = ?",
        [name],
    ).fetchall()
    return bool(found)


def _markdown(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False, floatfmt=".3f")


def _missing(name: str) -> list[str]:
    return [f"`marts.{name}` is not in this publication.", ""]


def report_day(con: duckdb.DuckDBPyConnection) -> tuple[dt.date, str]:
    """The business day the documents cover (the latest day of kpi_daily, as RPT) and the
    publication version they were read from."""
    ((version,),) = con.execute("select version from marts._publication").fetchall()
    ((day,),) = con.execute("select max(date) from marts.kpi_daily").fetchall()
    if day is None:
        raise ValueError("marts.kpi_daily is empty in the published file: no day to report on")
    return pd.Timestamp(day).date(), version


def registrations_document(con: duckdb.DuckDBPyConnection) -> Document:
    """REG: the day's registrations by first channel against their trailing 7-day mean, the
    28-day trend per channel, the registration forecast and the registration funnel."""
    day, version = report_day(con)
    start = day - dt.timedelta(days=TREND_DAYS - 1)
    daily = con.execute(
        "select first_seen_date as date, first_channel as channel, count(*) as registrations "
        "from marts.dim_users where first_seen_date between ? and ? group by 1, 2 order by 1, 2",
        [start, day],
    ).df()
    daily["date"] = pd.to_datetime(daily["date"]).dt.date
    channels = sorted(daily["channel"].dropna().unique())
    grid = pd.MultiIndex.from_product(
        [pd.date_range(start, day).date, channels], names=["date", "channel"]
    )
    daily = (
        daily.set_index(["date", "channel"])["registrations"]
        .reindex(grid, fill_value=0)
        .reset_index()
    )
    week_before = daily[
        (daily["date"] < day) & (daily["date"] >= day - dt.timedelta(days=7))
    ].groupby("channel")["registrations"]
    summary = pd.DataFrame(
        {
            "channel": channels,
            "registrations": [
                int(daily[(daily["date"] == day) & (daily["channel"] == c)]["registrations"].sum())
                for c in channels
            ],
        }
    )
    summary["trailing_7d_mean"] = summary["channel"].map(week_before.sum() / 7).fillna(0.0)
    summary["change_pct"] = np.where(
        summary["trailing_7d_mean"] > 0,
        summary["registrations"]
        / summary["trailing_7d_mean"].where(summary["trailing_7d_mean"] > 0)
        - 1,
        np.nan,
    )
    body = [
        f"Data: publication `{version}`.",
        "",
        "## Registrations by first channel",
        "",
        _markdown(summary) if len(summary) else "No registration in the last 28 days.",
        "",
        f"Total {int(summary['registrations'].sum())} on {day.isoformat()}.",
        "",
    ]
    charts = {}
    if len(daily):
        charts["trend"] = line_plot(
            daily,
            x="date",
            y="registrations",
            hue="channel",
            title=f"Registrations per day, last {TREND_DAYS} days",
            xlabel="date",
            ylabel="registrations",
        )
        body += ["![Registrations per day by channel](trend)", ""]
    body += ["## Forecast", ""]
    if _table(con, "registration_forecast"):
        forecast = con.execute(
            "select date, channel, forecast, lower_80, upper_80 from marts.registration_forecast "
            "where date > ? and date <= ? order by date, channel",
            [day, day + dt.timedelta(days=FORECAST_DAYS)],
        ).df()
        body += [
            _markdown(forecast)
            if len(forecast)
            else "No forecast for the next days (too little history to fit one).",
            "",
        ]
    else:
        body += _missing("registration_forecast")
    body += ["## Funnel", ""]
    if _table(con, "registration_funnel"):
        # the latest month's funnel per first channel, with the step that loses most
        funnel = con.execute(
            "select * from marts.registration_funnel where visit_month = "
            "(select max(visit_month) from marts.registration_funnel) order by channel"
        ).df()
        body += [_markdown(funnel) if len(funnel) else "No funnel month yet.", ""]
    else:
        body += _missing("registration_funnel")
    snapshot = pd.DataFrame(
        {
            "key": "registrations:" + summary["channel"].astype(str),
            "value": summary["registrations"].astype(float),
        }
    )
    return Document("REG", "registrations", day, "Registrations", body, charts, snapshot)


def _lift_png(results: pd.DataFrame) -> bytes:
    """Each treatment's lift over control with its interval, one bar per experiment x variant."""
    fig = Figure(figsize=(7, 0.6 * len(results) + 1.5))
    ax = fig.add_subplot()
    labels = (results["experiment_id"] + " " + results["variant"]).tolist()
    lift = results["lift_vs_control"].to_numpy(dtype=float)
    low = lift - results["ci_low"].to_numpy(dtype=float)
    high = results["ci_high"].to_numpy(dtype=float) - lift
    ax.errorbar(lift, range(len(labels)), xerr=[low, high], fmt="o", color="#4c78a8", capsize=4)
    ax.axvline(0, color="#888", linewidth=1)
    ax.set_yticks(range(len(labels)), labels)
    ax.set(title="Lift over control (95% interval)", xlabel="conversion-rate difference")
    fig.tight_layout()
    return figure_png(fig)


def campaigns_document(con: duckdb.DuckDBPyConnection) -> Document:
    """ACT: the experiments' lifts, interaction and retention, the day's next-best actions, and
    the campaign cost, ROI and content effect where the publication holds them."""
    day, version = report_day(con)
    body = [f"Data: publication `{version}`.", "", "## Experiments", ""]
    charts: dict[str, bytes] = {}
    snapshot_rows: list[tuple[str, float]] = []
    results = con.execute(
        "select * from marts.experiment_results order by experiment_id, variant"
    ).df()
    if len(results):
        body += [_markdown(results), ""]
        treated = results[results["lift_vs_control"].notna()]
        if len(treated):
            charts["lift"] = _lift_png(treated)
            body += ["![Lift over control](lift)", ""]
        snapshot_rows += [
            (f"lift:{r.experiment_id}:{r.variant}", r.lift_vs_control) for r in treated.itertuples()
        ]
    else:
        body += ["No experiment in this publication (the experiment list is empty).", ""]
    body += ["## Interaction and retention", ""]
    retention = con.execute(
        "select * from marts.interaction_retention order by interaction_frequency_bucket, scenario"
    ).df()
    body += [_markdown(retention) if len(retention) else "No interaction measured yet.", ""]
    body += [f"## Next-best actions for {day + dt.timedelta(days=1)}", ""]
    actions = con.execute(
        "select scenario, action, channel, count(*) as persons from marts.next_best_actions "
        "where action_date = (select max(action_date) from marts.next_best_actions) "
        "group by all order by persons desc, scenario, action, channel"
    ).df()
    body += [_markdown(actions) if len(actions) else "No action planned.", ""]
    snapshot_rows.append(("next_best_actions", float(actions["persons"].sum())))
    for name, title in (("campaign_roi", "Cost and ROI"), ("content_performance", "Content")):
        body += [f"## {title}", ""]
        if _table(con, name):
            frame = con.execute(f"select * from marts.{name} order by all").df()  # noqa: S608
            body += [_markdown(frame) if len(frame) else f"`{name}` has no row yet.", ""]
        else:
            body += _missing(name)
    snapshot = pd.DataFrame(snapshot_rows, columns=["key", "value"])
    return Document("ACT", "campaigns", day, "Campaigns and experiments", body, charts, snapshot)


def feedback_document(con: duckdb.DuckDBPyConnection) -> Document:
    """FBK: the feedback scores and the NPS-style score per month, from feedback_satisfaction."""
    day, version = report_day(con)
    body = [f"Data: publication `{version}`.", "", "## Satisfaction by month", ""]
    charts: dict[str, bytes] = {}
    snapshot = None
    if _table(con, "feedback_satisfaction"):
        frame = con.execute(
            "select * from marts.feedback_satisfaction order by feedback_month"
        ).df()
        body += [_markdown(frame) if len(frame) else "No feedback received yet.", ""]
        monthly = frame[frame["nps"].notna()][["feedback_month", "nps"]]
        if len(monthly):
            charts["nps"] = line_plot(
                monthly.assign(series="NPS"),
                x="feedback_month",
                y="nps",
                hue="series",
                title="NPS-style score by month",
                xlabel="month",
                ylabel="promoters - detractors",
            )
            body += ["![NPS by month](nps)", ""]
            snapshot = pd.DataFrame(
                {"key": "nps:" + monthly["feedback_month"].astype(str), "value": monthly["nps"]}
            )
    else:
        body += _missing("feedback_satisfaction")
    return Document("FBK", "feedback", day, "Customer feedback", body, charts, snapshot)


DOCUMENTS = (registrations_document, campaigns_document, feedback_document)


def write_category_documents(con: duckdb.DuckDBPyConnection, reports_dir: Path) -> list[Path]:
    """Write the next version of the day's REG, ACT and FBK documents; returns their files."""
    return [write_document(build(con), reports_dir) for build in DOCUMENTS]

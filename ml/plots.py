"""Figures for asset metadata and reports, returned as PNG bytes (nothing is written to disk).

Figures are built with the object-oriented matplotlib API on the Agg canvas, never through
``pyplot``'s global state, so they are safe to call from concurrent runs.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

__all__ = ["calibration_plot", "forecast_plot", "line_plot", "figure_png"]

_DPI = 100


def figure_png(fig: Figure) -> bytes:
    """Render a matplotlib Figure to PNG bytes."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight")
    return buffer.getvalue()


def calibration_plot(table: pd.DataFrame, *, title: str = "Churn calibration") -> bytes:
    """Reliability diagram from :func:`ml.churn.calibration_table`.

    Uses the columns mean_predicted, observed_rate and n.

    Points are sized by bin count; the diagonal is perfect calibration.
    """
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect")
    sizes = 20 + 200 * table["n"] / max(float(table["n"].max()), 1.0) if len(table) else 20
    ax.plot(table["mean_predicted"], table["observed_rate"], color="C0", linewidth=1)
    ax.scatter(
        table["mean_predicted"],
        table["observed_rate"],
        s=sizes,
        color="C0",
        label="model",
        zorder=3,
    )
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="mean predicted churn probability",
        ylabel="observed churn rate",
        title=title,
    )
    ax.legend(loc="upper left")
    return figure_png(fig)


def line_plot(
    frame: pd.DataFrame,
    *,
    x: str,
    y: str,
    hue: str | None = None,
    title: str = "",
    xlabel: str | None = None,
    ylabel: str | None = None,
    percent: bool = False,
) -> bytes:
    """One line per ``hue`` group of ``y`` against ``x`` (e.g. retention_rate by day_n per cohort).

    Args:
        percent: format the y axis as percentages (values are shares 0..1).
    """
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    groups = [(None, frame)] if hue is None else list(frame.groupby(hue, sort=True))
    for key, part in groups:
        part = part.sort_values(x)
        ax.plot(
            part[x],
            part[y],
            marker="o",
            markersize=3,
            linewidth=1.2,
            label=None if key is None else str(key),
        )
    if hue is not None and len(groups) <= 12:
        ax.legend(title=hue, fontsize="small")
    if percent:
        # decimals from the axis range: whole percents repeat labels once the range is below ~5%
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))
    ax.set(title=title, xlabel=xlabel or x, ylabel=ylabel or y)
    ax.grid(alpha=0.3)
    if pd.api.types.is_datetime64_any_dtype(frame[x]):
        fig.autofmt_xdate()
    return figure_png(fig)


def forecast_plot(
    history: pd.DataFrame,
    forecast: pd.DataFrame,
    *,
    channels: Sequence[str] | None = None,
    history_days: int = 56,
    title: str = "Daily registrations: history and forecast",
) -> bytes:
    """History (date, channel, registrations) and forecast (date, channel, forecast, lower_*,
    upper_*), one panel per channel, the interval shaded; shows the last ``history_days`` days."""
    lower_col = next(c for c in forecast.columns if c.startswith("lower_"))
    upper_col = next(c for c in forecast.columns if c.startswith("upper_"))
    chans = list(channels) if channels is not None else sorted(forecast["channel"].unique())
    fig = Figure(figsize=(9, 2.4 * max(len(chans), 1)))
    axes = fig.subplots(max(len(chans), 1), 1, squeeze=False, sharex=True)[:, 0]
    start = pd.to_datetime(forecast["date"]).min() - pd.Timedelta(days=history_days)
    for ax, channel in zip(axes, chans, strict=False):
        h = history[(history["channel"] == channel) & (pd.to_datetime(history["date"]) >= start)]
        f = forecast[forecast["channel"] == channel]
        ax.plot(
            pd.to_datetime(h["date"]), h["registrations"], color="C0", linewidth=1, label="actual"
        )
        ax.plot(
            pd.to_datetime(f["date"]), f["forecast"], color="C1", linewidth=1.5, label="forecast"
        )
        ax.fill_between(
            pd.to_datetime(f["date"]),
            f[lower_col],
            f[upper_col],
            color="C1",
            alpha=0.25,
            label=lower_col.replace("lower_", "") + "% interval",
        )
        ax.set_ylabel(str(channel))
        ax.grid(alpha=0.3)
    axes[0].set_title(title)
    axes[0].legend(loc="upper left", fontsize="small")
    fig.autofmt_xdate()
    return figure_png(fig)

"""Figures come back as PNG bytes and write nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg

import ml.plots
from ml.churn import calibration_table
from ml.plots import calibration_plot, forecast_plot, line_plot

PNG = b"\x89PNG\r\n\x1a\n"


def test_calibration_plot_png():
    rng = np.random.default_rng(0)
    p = rng.random(500)
    png = calibration_plot(calibration_table((rng.random(500) < p).astype(int), p))
    assert png.startswith(PNG) and len(png) > 1000


def test_line_plot_png_with_hue():
    frame = pd.DataFrame(
        {
            "day_n": list(range(31)) * 2,
            "retention_rate": np.r_[np.linspace(1, 0.2, 31), np.linspace(1, 0.3, 31)],
            "cohort": ["w1"] * 31 + ["w2"] * 31,
        }
    )
    png = line_plot(
        frame, x="day_n", y="retention_rate", hue="cohort", percent=True, title="Retention"
    )
    assert png.startswith(PNG)
    dated = pd.DataFrame({"date": pd.date_range("2026-01-01", periods=10), "n": range(10)})
    assert line_plot(dated, x="date", y="n").startswith(PNG)


def _line_plot_y_tick_labels(monkeypatch, frame: pd.DataFrame, **kwargs) -> list[str]:
    """The y tick labels line_plot draws (the figure caught on its way to PNG)."""
    figures = []
    monkeypatch.setattr(ml.plots, "figure_png", lambda fig: figures.append(fig) or PNG)
    line_plot(frame, **kwargs)
    (fig,) = figures
    FigureCanvasAgg(fig).draw()
    (ax,) = fig.axes
    low, high = ax.get_ylim()
    ticks = [t for t in ax.get_yticks() if low <= t <= high]
    return [ax.yaxis.get_major_formatter()(t, i) for i, t in enumerate(ticks)]


def test_line_plot_percent_ticks_are_unique_for_a_curve_below_five_percent(monkeypatch):
    frame = pd.DataFrame(
        {
            "day_n": [1, 2, 3, 7, 14, 30] * 2,
            "retention": [
                0.042,
                0.031,
                0.024,
                0.017,
                0.011,
                0.006,
                0.038,
                0.027,
                0.02,
                0.013,
                0.009,
                0.004,
            ],
            "cohort_channel": ["store"] * 6 + ["wecom"] * 6,
        }
    )
    labels = _line_plot_y_tick_labels(
        monkeypatch, frame, x="day_n", y="retention", hue="cohort_channel", percent=True
    )
    assert len(labels) >= 4 and all(label.endswith("%") for label in labels)
    assert len(set(labels)) == len(labels), labels


def test_line_plot_percent_ticks_stay_whole_numbers_on_a_wide_range(monkeypatch):
    frame = pd.DataFrame({"day_n": [1, 2, 30], "retention": [0.6, 0.4, 0.1]})
    labels = _line_plot_y_tick_labels(monkeypatch, frame, x="day_n", y="retention", percent=True)
    assert len(set(labels)) == len(labels) and "20%" in labels and "." not in "".join(labels)


def test_forecast_plot_png(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hist = pd.DataFrame(
        {
            "date": pd.date_range("2026-01-01", periods=60),
            "channel": "store",
            "registrations": np.arange(60),
        }
    )
    fc = pd.DataFrame(
        {
            "date": pd.date_range("2026-03-02", periods=28),
            "channel": "store",
            "forecast": 50.0,
            "lower_80": 40.0,
            "upper_80": 60.0,
        }
    )
    assert forecast_plot(hist, fc).startswith(PNG)
    assert list(tmp_path.iterdir()) == []

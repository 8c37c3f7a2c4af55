"""Figures come back as PNG bytes and write nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.churn import calibration_table
from ml.plots import calibration_plot, forecast_plot, line_plot

PNG = b"\x89PNG\r\n\x1a\n"


def test_calibration_plot_png():
    rng = np.random.default_rng(0)
    p = rng.random(500)
    png = calibration_plot(calibration_table((rng.random(500) < p).astype(int), p))
    assert png.startswith(PNG) and len(png) > 1000


def test_line_plot_png_with_hue():
    frame = pd.DataFrame({"day_n": list(range(31)) * 2, "retention_rate": np.r_[
        np.linspace(1, 0.2, 31), np.linspace(1, 0.3, 31)], "cohort": ["w1"] * 31 + ["w2"] * 31})
    png = line_plot(frame, x="day_n", y="retention_rate", hue="cohort", percent=True,
                    title="Retention")
    assert png.startswith(PNG)
    dated = pd.DataFrame({"date": pd.date_range("2026-01-01", periods=10), "n": range(10)})
    assert line_plot(dated, x="date", y="n").startswith(PNG)


def test_forecast_plot_png(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hist = pd.DataFrame({"date": pd.date_range("2026-01-01", periods=60), "channel": "store",
                         "registrations": np.arange(60)})
    fc = pd.DataFrame({"date": pd.date_range("2026-03-02", periods=28), "channel": "store",
                       "forecast": 50.0, "lower_80": 40.0, "upper_80": 60.0})
    assert forecast_plot(hist, fc).startswith(PNG)
    assert list(tmp_path.iterdir()) == []

"""Registration forecaster: beats seasonal naive, calibrated intervals, output shape."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.forecast import (
    RegistrationForecaster,
    backtest,
    daily_registrations,
    seasonal_naive,
    smape,
)
from tests.ml.siyu_synthetic import single_thread  # noqa: F401 (autouse fixture)

WEEKLY = np.array([1.0, 0.9, 0.95, 1.0, 1.2, 1.8, 1.6])  # Monday .. Sunday


def weekly_series(seed: int, days: int = 280, level: float = 30.0) -> pd.Series:
    """Poisson daily counts with a weekly pattern and a mild upward trend."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2025-01-01", periods=days, freq="D")
    lam = level * WEEKLY[dates.day_of_week] * (1 + 0.3 * np.arange(days) / days)
    return pd.Series(rng.poisson(lam), index=dates)


def test_beats_seasonal_naive_and_interval_covers_about_80_percent():
    results = pd.concat(
        [
            backtest(weekly_series(seed, level=level), horizon=28, folds=3).assign(level=level)
            for seed in range(5)
            for level in (8.0, 40.0)
        ],
        ignore_index=True,
    )
    summary = results[["model_mae", "naive_mae", "model_smape", "naive_smape", "coverage"]].mean()
    print(summary.round(3).to_dict())
    assert summary["model_mae"] < summary["naive_mae"]
    assert summary["model_smape"] < summary["naive_smape"]
    assert 0.70 <= summary["coverage"] <= 0.90
    assert (results["model_mae"] < results["naive_mae"]).mean() >= 0.8


def test_output_frame_per_channel():
    dates = pd.date_range("2025-01-01", periods=120, freq="D")
    daily = pd.concat(
        [
            pd.DataFrame(
                {
                    "date": dates,
                    "channel": "miniprogram",
                    "registrations": weekly_series(1, 120, 20).to_numpy(),
                }
            ),
            pd.DataFrame(
                {
                    "date": dates,
                    "channel": "store",
                    "registrations": weekly_series(2, 120, 3).to_numpy(),
                }
            ),
            pd.DataFrame({"date": dates, "channel": "closed", "registrations": 0}),
        ]
    )
    fc = RegistrationForecaster(horizon_days=28).fit(daily).predict()
    assert list(fc.columns) == ["date", "channel", "forecast", "lower_80", "upper_80"]
    assert len(fc) == 3 * 28
    assert fc["date"].min() == dates[-1] + pd.Timedelta(days=1)
    assert (fc["lower_80"] >= 0).all()
    assert (fc["lower_80"] <= fc["forecast"]).all() and (fc["forecast"] <= fc["upper_80"]).all()
    assert (fc.loc[fc["channel"] == "closed", ["forecast", "upper_80"]] == 0).all().all()
    mini = fc[fc["channel"] == "miniprogram"].set_index("date")["forecast"]
    # the weekly shape is kept: weekends above midweek
    assert mini[mini.index.day_of_week == 5].mean() > mini[mini.index.day_of_week == 1].mean()


def test_robust_to_a_one_day_spike():
    s = weekly_series(3, 140, 30.0)
    spiked = s.copy()
    spiked.iloc[-10] = 2000  # a campaign day
    to_frame = lambda x: pd.DataFrame(  # noqa: E731
        {"date": x.index, "channel": "c", "registrations": x.to_numpy()}
    )
    base = RegistrationForecaster().fit(to_frame(s)).predict()["forecast"].mean()
    hit = RegistrationForecaster().fit(to_frame(spiked)).predict()["forecast"].mean()
    assert hit == pytest.approx(base, rel=0.1)


def test_daily_registrations_complete_grid():
    users = pd.DataFrame(
        {
            "person_id": ["a", "b", "c", "d"],
            "registered_at": pd.to_datetime(
                ["2026-01-01 09:00", "2026-01-01 23:59", "2026-01-03 00:00", None]
            ),
            "first_channel": ["store", "store", "wecom", "store"],
        }
    )
    daily = daily_registrations(users)
    assert len(daily) == 3 * 2
    counts = daily.set_index(["date", "channel"])["registrations"]
    assert counts[(pd.Timestamp("2026-01-01"), "store")] == 2
    assert counts[(pd.Timestamp("2026-01-02"), "wecom")] == 0
    assert counts.sum() == 3


def test_seasonal_naive_and_smape():
    history = np.arange(14, dtype=float)
    assert list(seasonal_naive(history, 9)) == [7, 8, 9, 10, 11, 12, 13, 7, 8]
    assert smape([0, 10], [0, 10]) == 0.0
    assert smape([10], [0]) == pytest.approx(200.0)


def test_too_short_history_is_a_clear_error():
    daily = pd.DataFrame(
        {"date": pd.date_range("2026-01-01", periods=5), "channel": "c", "registrations": 1}
    )
    with pytest.raises(ValueError, match="at least 14"):
        RegistrationForecaster().fit(daily)


def test_forecaster_pickles_and_other_interval_names():
    import pickle

    s = weekly_series(4, 60, 10.0)
    daily = pd.DataFrame({"date": s.index, "channel": "c", "registrations": s.to_numpy()})
    model = RegistrationForecaster(interval=0.9).fit(daily)
    fc = pickle.loads(pickle.dumps(model)).predict(horizon_days=7)
    assert list(fc.columns) == ["date", "channel", "forecast", "lower_90", "upper_90"]
    assert len(fc) == 7

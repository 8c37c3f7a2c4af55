"""ml.workflows.forecast.forecast_registrations on real registrations: no channel ready yet, a
forecast with and without the history for a backtest."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.minimums import MIN_FORECAST_HISTORY_DAYS
from ml.workflows.contract import ml_frame
from ml.workflows.forecast import BACKTEST_MIN_DAYS, FORECAST_HORIZON_DAYS, forecast_registrations

PNG = b"\x89PNG\r\n\x1a\n"
START = pd.Timestamp("2025-01-01")


def registrations(per_day: dict[str, tuple[int, int]], seed: int = 0) -> pd.DataFrame:
    """Persons as warehouse.features.read_registrations reads them: per channel, a Poisson
    number of registrations a day (mean = the first figure) over that many days from START (the
    second figure)."""
    rng = np.random.default_rng(seed)
    rows = []
    for channel, (mean, days) in per_day.items():
        for day in range(days):
            for k in range(rng.poisson(mean)):
                at = START + pd.Timedelta(days=day, hours=9, minutes=k)
                rows.append((f"{channel}-{day}-{k}", at, channel))
    return pd.DataFrame(rows, columns=["person_id", "registered_at", "first_channel"])


def dtypes(frame: pd.DataFrame) -> dict[str, str]:
    return {c: str(t) for c, t in frame.dtypes.items()}


def test_no_registrations_at_all_forecasts_nothing():
    as_of = START + pd.Timedelta(days=5)

    result = forecast_registrations(registrations({}), as_of)

    assert result.reason == (
        f"no channel has {MIN_FORECAST_HISTORY_DAYS} days of registrations before 2025-01-06 "
        "yet (0 days so far)"
    )
    assert result.frame.empty and dtypes(result.frame) == dtypes(ml_frame("registration_forecast"))
    assert result.plot_png is None and result.channels_not_ready == []


def test_no_channel_with_two_weeks_forecasts_nothing():
    as_of = START + pd.Timedelta(days=10)
    users = registrations({"wecom": (5, 10), "miniprogram": (3, 10)})

    result = forecast_registrations(users, as_of)

    assert result.reason == (
        "no channel has 14 days of registrations before 2025-01-11 yet (10 days so far)"
    )
    assert result.frame.empty
    assert result.channels_not_ready == ["miniprogram", "wecom"]


def test_every_ready_channel_is_forecast_from_the_cutoff():
    as_of = START + pd.Timedelta(days=30)
    users = registrations({"wecom": (8, 30), "store": (2, 30)})

    result = forecast_registrations(users, as_of)

    assert result.reason is None
    assert dtypes(result.frame) == dtypes(ml_frame("registration_forecast"))
    assert result.frame.groupby("channel")["date"].nunique().to_dict() == {
        "store": FORECAST_HORIZON_DAYS,
        "wecom": FORECAST_HORIZON_DAYS,
    }
    assert result.frame["date"].min() == as_of
    assert result.frame["date"].max() == as_of + pd.Timedelta(days=FORECAST_HORIZON_DAYS - 1)
    assert (result.frame["generated_at"] == as_of).all()
    assert (result.frame["lower_80"] <= result.frame["forecast"]).all()
    assert (result.frame["forecast"] <= result.frame["upper_80"]).all()
    assert result.history["date"].max() == as_of - pd.Timedelta(days=1)
    assert result.channels_not_ready == []
    # 30 days are too few for the backtest's folds
    assert result.backtest.empty and result.backtest_summary == {}
    assert result.plot_png.startswith(PNG)


def test_a_channel_that_started_late_is_counted_from_the_first_registration_of_any():
    # daily_registrations puts every channel on one grid from the brand's first registration
    # (zeros before a channel's first): a channel new this week has the brand's history, so
    # the two-week minimum holds back a channel only while the brand itself is that young
    as_of = START + pd.Timedelta(days=30)
    users = registrations({"wecom": (8, 30)})
    late = registrations({"store": (4, 3)}).assign(
        registered_at=lambda f: f["registered_at"] + pd.Timedelta(days=27)
    )

    result = forecast_registrations(pd.concat([users, late], ignore_index=True), as_of)

    assert result.reason is None and result.channels_not_ready == []
    assert set(result.frame["channel"]) == {"store", "wecom"}


def test_a_long_history_is_backtested_per_channel():
    days = BACKTEST_MIN_DAYS
    users = registrations({"wecom": (8, days), "store": (3, days)})

    result = forecast_registrations(users, START + pd.Timedelta(days=days))

    assert result.reason is None
    assert sorted(result.backtest["channel"].unique()) == ["store", "wecom"]
    assert len(result.backtest) == 2 * 3
    summary = result.backtest_summary
    assert {"model_mae", "naive_mae", "coverage"} <= set(summary)
    assert "fold" not in summary and "n_train_days" not in summary
    assert 0 <= summary["coverage"] <= 1

"""Daily registration forecast: registrations per first channel up to a cutoff, 28 days ahead
with 80% intervals, as the typed ml.registration_forecast table, backtested where a channel has
the history for it; or the empty table and why (no channel with two weeks of history)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ml.forecast import RegistrationForecaster, backtest, daily_registrations
from ml.minimums import MIN_FORECAST_HISTORY_DAYS
from ml.plots import forecast_plot
from ml.workflows.contract import ml_frame

TABLE = "registration_forecast"
#: The table's interval columns are lower_80 / upper_80.
FORECAST_HORIZON_DAYS = 28
FORECAST_INTERVAL = 0.8
#: A channel is backtested on 3 folds of the horizon, after 8 weeks to fit the first fold on.
BACKTEST_FOLDS = 3
BACKTEST_MIN_DAYS = BACKTEST_FOLDS * FORECAST_HORIZON_DAYS + 56


@dataclass(frozen=True, eq=False)
class RegistrationForecast:
    """One registration forecast.

    Attributes:
        frame: the ml.registration_forecast table (empty when ``reason`` is set).
        as_of: the exclusive end of the history (the forecast's first day); the rows'
            ``generated_at``.
        reason: why nothing was forecast, or None.
        history: the daily registrations (date, channel, registrations) of the channels forecast.
        channels_not_ready: channels with fewer than :data:`MIN_FORECAST_HISTORY_DAYS` days of
            history, not forecast (sorted).
        backtest: one row per channel and fold (:func:`ml.forecast.backtest` plus ``channel``)
            for the channels with :data:`BACKTEST_MIN_DAYS` days; empty without any.
        plot_png: history and forecast by channel (PNG); None when nothing was forecast.
    """

    frame: pd.DataFrame
    as_of: pd.Timestamp
    reason: str | None = None
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    channels_not_ready: list[str] = field(default_factory=list)
    backtest: pd.DataFrame = field(default_factory=pd.DataFrame)
    plot_png: bytes | None = None

    @property
    def backtest_summary(self) -> dict[str, float]:
        """The backtest's error measures and coverage, averaged over channels and folds."""
        means = self.backtest.mean(numeric_only=True)
        return {
            k: float(v) for k, v in means.drop(["fold", "n_train_days"], errors="ignore").items()
        }


def forecast_registrations(
    users: pd.DataFrame,
    as_of: pd.Timestamp,
    *,
    min_history_days: int = MIN_FORECAST_HISTORY_DAYS,
) -> RegistrationForecast:
    """Forecast daily registrations per first channel from ``as_of`` on.

    Args:
        users: one row per person first seen before ``as_of``: person_id, registered_at (a
            registration is a person's first appearance), first_channel, as
            warehouse.features.read_registrations returns them.
        as_of: the exclusive end of the history: the history runs up to and including the day
            before, and the forecast covers the :data:`FORECAST_HORIZON_DAYS` days from it.
        min_history_days: days of history a channel needs for its day-of-week pattern.
    """
    daily = daily_registrations(users, end_date=as_of)
    days_per_channel = daily.groupby("channel")["date"].nunique()
    ready = days_per_channel[days_per_channel >= min_history_days].index
    not_ready = sorted(set(days_per_channel.index) - set(ready))
    daily = daily[daily["channel"].isin(ready)]
    if daily.empty:
        most = int(days_per_channel.max()) if len(days_per_channel) else 0
        return RegistrationForecast(
            ml_frame(TABLE),
            as_of,
            reason=f"no channel has {min_history_days} days of registrations before "
            f"{as_of.date()} yet ({most} days so far)",
            channels_not_ready=not_ready,
        )
    model = RegistrationForecaster(horizon_days=FORECAST_HORIZON_DAYS, interval=FORECAST_INTERVAL)
    forecast = model.fit(daily).predict()
    folds = []
    for channel, group in daily.groupby("channel"):
        series = group.set_index("date")["registrations"]
        if len(series) >= BACKTEST_MIN_DAYS:
            folds.append(
                backtest(series, horizon=FORECAST_HORIZON_DAYS, folds=BACKTEST_FOLDS).assign(
                    channel=channel
                )
            )
    return RegistrationForecast(
        ml_frame(TABLE, forecast.assign(generated_at=as_of)),
        as_of,
        history=daily,
        channels_not_ready=not_ready,
        backtest=pd.concat(folds, ignore_index=True) if folds else pd.DataFrame(),
        plot_png=forecast_plot(
            daily, forecast, title=f"Registrations by channel, forecast from {as_of.date()}"
        ),
    )

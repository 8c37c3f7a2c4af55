"""Daily registrations by channel, a few weeks ahead (``registration_forecast``).

Model, one per channel: on ``log1p(daily registrations)`` over the last ``history_weeks`` weeks, a
weighted ridge regression on a local level, a linear trend and day-of-week dummies. Weights decay
with age (half-life ``half_life_days``) so level and trend are local; the trend carries a ridge
penalty and is damped when extrapolated, so a few noisy weeks cannot send a forecast off; two Huber
reweighting passes keep one-off spikes (a campaign day) from moving the fit. Forecasts are
``expm1`` of the fitted log values (a median-like forecast), clipped at 0.

Prediction interval (``interval``, default 80%): empirical quantiles of the in-sample log residuals,
widened by the degrees-of-freedom factor ``sqrt(n / (n - p))`` and by ``sqrt(1 + h / n_eff)`` for a
forecast ``h`` days ahead (the level's own uncertainty), then back-transformed and clipped at 0.

:func:`backtest` runs a rolling-origin evaluation against the seasonal-naive forecast (the same
weekday last week) with MAE, sMAPE and MAPE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from ml.features import to_local_naive

__all__ = [
    "RegistrationForecaster",
    "backtest",
    "daily_registrations",
    "interval_columns",
    "mae",
    "mape",
    "seasonal_naive",
    "smape",
]


# --------------------------------------------------------------------------------------------
# data preparation and error measures
# --------------------------------------------------------------------------------------------
def daily_registrations(
    users: pd.DataFrame,
    *,
    channel_column: str = "first_channel",
    end_date: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """Count registrations per local calendar day and channel from ``dim_users``.

    Persons with a null ``registered_at`` are not registrations. The grid is complete: every day
    from the first registration to ``end_date`` (exclusive; default the day after the last
    registration) for every channel, zeros included.

    Returns:
        Long frame with columns date (datetime64, midnight), channel, registrations (int).
    """
    reg = to_local_naive(users["registered_at"])
    frame = pd.DataFrame({"date": reg.dt.normalize(), "channel": users[channel_column]})
    frame = frame.dropna(subset=["date"])
    frame["channel"] = frame["channel"].fillna("unknown").astype(str)
    if frame.empty:
        return pd.DataFrame(
            {
                "date": pd.Series(dtype="datetime64[ns]"),
                "channel": pd.Series(dtype=object),
                "registrations": pd.Series(dtype=int),
            }
        )
    last = (
        pd.Timestamp(end_date).normalize() - pd.Timedelta(days=1)
        if end_date is not None
        else frame["date"].max()
    )
    days = pd.date_range(frame["date"].min(), last, freq="D")
    counts = frame.groupby(["date", "channel"]).size()
    grid = pd.MultiIndex.from_product(
        [days, sorted(frame["channel"].unique())], names=["date", "channel"]
    )
    return counts.reindex(grid, fill_value=0).rename("registrations").reset_index()


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute error, in registrations per day."""
    return float(np.mean(np.abs(np.asarray(actual, float) - np.asarray(forecast, float))))


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE in percent: mean of 2|a - f| / (|a| + |f|), 0 where both are 0."""
    a, f = np.asarray(actual, float), np.asarray(forecast, float)
    denom = np.abs(a) + np.abs(f)
    ratio = np.divide(2 * np.abs(a - f), denom, out=np.zeros_like(a), where=denom > 0)
    return float(100 * ratio.mean())


def mape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """MAPE in percent over days with non-zero actuals (NaN if there are none)."""
    a, f = np.asarray(actual, float), np.asarray(forecast, float)
    nz = a != 0
    return float(100 * np.mean(np.abs(a[nz] - f[nz]) / np.abs(a[nz]))) if nz.any() else float("nan")


def seasonal_naive(history: np.ndarray, horizon: int, season: int = 7) -> np.ndarray:
    """Repeat the last ``season`` days: the forecast for a day is the same weekday last week."""
    history = np.asarray(history, float)
    if len(history) < season:
        return np.full(horizon, history[-1] if len(history) else 0.0)
    last = history[-season:]
    return last[np.arange(horizon) % season]


def interval_columns(interval: float) -> tuple[str, str]:
    """Names of the interval columns, e.g. ``("lower_80", "upper_80")`` for 0.8."""
    pct = round(interval * 100)
    return f"lower_{pct}", f"upper_{pct}"


# --------------------------------------------------------------------------------------------
# the per-channel model
# --------------------------------------------------------------------------------------------
@dataclass
class _SeriesFit:
    """A fitted log-linear model for one daily series."""

    coef: np.ndarray
    last_date: pd.Timestamp
    residual_quantiles: tuple[float, float]
    n: int
    n_eff: float
    dof_factor: float
    all_zero: bool


def _design(dates: pd.DatetimeIndex, t_weeks: np.ndarray) -> np.ndarray:
    dow = dates.day_of_week.to_numpy()
    dummies = (dow[:, None] == np.arange(1, 7)[None, :]).astype(float)  # Monday is the reference
    return np.column_stack([np.ones(len(dates)), t_weeks, dummies])


class RegistrationForecaster(BaseEstimator):
    """Per-channel daily registration forecaster with prediction intervals.

    Parameters:
        horizon_days: days forecast after the last observed day.
        interval: central prediction-interval coverage (0.8 -> columns lower_80, upper_80).
        history_weeks: weeks of history each channel model is fitted on.
        half_life_days: age (days) at which an observation's weight halves.
        trend_penalty: ridge penalty on the weekly trend coefficient (in log units per week).
        trend_damping: per-day damping factor of the extrapolated trend (1 = undamped).

    Attributes:
        channels_: channels fitted.
        fits_: per channel, the fitted coefficients and residual quantiles.
        last_date_: last observed day (the forecast starts the day after).
    """

    def __init__(
        self,
        horizon_days: int = 28,
        interval: float = 0.8,
        history_weeks: int = 16,
        half_life_days: float = 56.0,
        trend_penalty: float = 5.0,
        trend_damping: float = 0.98,
    ) -> None:
        self.horizon_days = horizon_days
        self.interval = interval
        self.history_weeks = history_weeks
        self.half_life_days = half_life_days
        self.trend_penalty = trend_penalty
        self.trend_damping = trend_damping

    def _fit_series(self, series: pd.Series) -> _SeriesFit:
        series = series.sort_index().iloc[-self.history_weeks * 7 :]
        dates = pd.DatetimeIndex(series.index)
        y = np.log1p(np.clip(series.to_numpy(dtype=float), 0, None))
        n = len(y)
        age = (dates[-1] - dates) / pd.Timedelta(days=1)
        t_weeks = -np.asarray(age, dtype=float) / 7.0  # 0 at the last observed day
        X = _design(dates, t_weeks)
        base_w = 0.5 ** (np.asarray(age, dtype=float) / self.half_life_days)
        penalty = np.zeros(X.shape[1])
        penalty[1] = self.trend_penalty
        penalty[2:] = 1e-3
        robust = np.ones(n)
        coef = np.zeros(X.shape[1])
        for _ in range(3):  # weighted ridge, then two Huber reweighting passes
            w = base_w * robust
            A = X.T @ (X * w[:, None]) + np.diag(penalty)
            coef = np.linalg.solve(A, X.T @ (w * y))
            resid = y - X @ coef
            scale = 1.4826 * np.median(np.abs(resid - np.median(resid))) + 1e-9
            robust = np.minimum(1.0, 1.5 * scale / np.maximum(np.abs(resid), 1e-12))
        lo_q = (1 - self.interval) / 2
        quantiles = (float(np.quantile(resid, lo_q)), float(np.quantile(resid, 1 - lo_q)))
        p = X.shape[1]
        return _SeriesFit(
            coef=coef,
            last_date=dates[-1],
            residual_quantiles=quantiles,
            n=n,
            n_eff=float(base_w.sum() ** 2 / (base_w**2).sum()),
            dof_factor=float(np.sqrt(n / max(n - p, 1))),
            all_zero=bool((series.to_numpy() == 0).all()),
        )

    def fit(self, daily: pd.DataFrame, y: None = None) -> RegistrationForecaster:
        """Fit one model per channel on a long frame (date, channel, registrations).

        Use :func:`daily_registrations` to build ``daily`` from ``dim_users``. Missing days inside
        a channel's range count as zero registrations.
        """
        if not 0 < self.interval < 1:
            raise ValueError("interval must be between 0 and 1")
        frame = daily.assign(date=pd.to_datetime(daily["date"]).dt.normalize())
        self.last_date_ = frame["date"].max()
        self.channels_ = sorted(frame["channel"].astype(str).unique())
        self.fits_ = {}
        for channel, part in frame.groupby(frame["channel"].astype(str)):
            counts = part.groupby("date")["registrations"].sum()
            days = pd.date_range(counts.index.min(), self.last_date_, freq="D")
            series = counts.reindex(days, fill_value=0)
            if len(series) < 14:
                raise ValueError(
                    f"channel {channel!r} has {len(series)} days of history; the forecaster "
                    "needs at least 14 (two weeks of day-of-week pattern)"
                )
            self.fits_[channel] = self._fit_series(series)
        return self

    def _predict_series(self, fit: _SeriesFit, horizon: int) -> pd.DataFrame:
        dates = pd.date_range(fit.last_date + pd.Timedelta(days=1), periods=horizon, freq="D")
        h = np.arange(1, horizon + 1, dtype=float)
        phi = self.trend_damping
        damped_days = h if phi >= 1 else phi * (1 - phi**h) / (1 - phi)
        X = _design(dates, damped_days / 7.0)
        mean_log = X @ fit.coef
        widen = fit.dof_factor * np.sqrt(1 + h / max(fit.n_eff, 1.0))
        lo_q, hi_q = fit.residual_quantiles
        lower_col, upper_col = interval_columns(self.interval)
        if fit.all_zero:
            zeros = np.zeros(horizon)
            return pd.DataFrame(
                {"date": dates, "forecast": zeros, lower_col: zeros, upper_col: zeros}
            )
        return pd.DataFrame(
            {
                "date": dates,
                "forecast": np.clip(np.expm1(mean_log), 0, None),
                lower_col: np.clip(np.expm1(mean_log + lo_q * widen), 0, None),
                upper_col: np.clip(np.expm1(mean_log + hi_q * widen), 0, None),
            }
        )

    def predict(self, horizon_days: int | None = None) -> pd.DataFrame:
        """Forecast the ``horizon_days`` days after the last observed day, every channel.

        Returns:
            Long frame: date, channel, forecast, lower_80, upper_80 (registrations per day; the
            interval columns are named for ``interval``).
        """
        horizon = horizon_days or self.horizon_days
        parts = [
            self._predict_series(self.fits_[c], horizon).assign(channel=c) for c in self.channels_
        ]
        lower_col, upper_col = interval_columns(self.interval)
        out = pd.concat(parts, ignore_index=True)
        return out[["date", "channel", "forecast", lower_col, upper_col]]


# --------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------
def backtest(
    series: pd.Series,
    horizon: int = 28,
    folds: int = 3,
    **params: float,
) -> pd.DataFrame:
    """Rolling-origin backtest of the forecaster vs the seasonal-naive forecast on one series.

    The last ``folds * horizon`` days are split into ``folds`` consecutive test windows; for each,
    the model is fitted on every day before the window and forecasts the whole window.

    Args:
        series: daily registrations indexed by date (one channel).
        horizon: test-window length in days.
        folds: number of origins.
        params: :class:`RegistrationForecaster` parameters.

    Returns:
        One row per fold: fold, origin (first forecast day), n_train_days, model_mae, naive_mae,
        model_smape, naive_smape, model_mape, naive_mape (percent), coverage (share of test days
        inside the prediction interval).
    """
    series = series.sort_index().astype(float)
    series.index = pd.DatetimeIndex(series.index).normalize()
    rows = []
    for fold in range(folds):
        start = len(series) - (folds - fold) * horizon
        if start < 14:
            raise ValueError(
                f"series of {len(series)} days is too short for {folds} folds of {horizon} days"
            )
        train, test = series.iloc[:start], series.iloc[start : start + horizon]
        daily = pd.DataFrame(
            {"date": train.index, "channel": "series", "registrations": train.to_numpy()}
        )
        model = RegistrationForecaster(horizon_days=horizon, **params).fit(daily)
        fc = model.predict()
        lower_col, upper_col = interval_columns(model.interval)
        actual = test.to_numpy()
        pred = fc["forecast"].to_numpy()[: len(actual)]
        naive = seasonal_naive(train.to_numpy(), len(actual))
        inside = (actual >= fc[lower_col].to_numpy()[: len(actual)]) & (
            actual <= fc[upper_col].to_numpy()[: len(actual)]
        )
        rows.append(
            {
                "fold": fold + 1,
                "origin": test.index[0],
                "n_train_days": len(train),
                "model_mae": mae(actual, pred),
                "naive_mae": mae(actual, naive),
                "model_smape": smape(actual, pred),
                "naive_smape": smape(actual, naive),
                "model_mape": mape(actual, pred),
                "naive_mape": mape(actual, naive),
                "coverage": float(inside.mean()),
            }
        )
    return pd.DataFrame(rows)

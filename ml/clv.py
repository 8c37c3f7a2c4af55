"""Probabilistic customer-lifetime-value models: BG/NBD and Gamma-Gamma.

Two estimators in the scikit-learn style and the helpers around them:

* :class:`BetaGeoFitter` -- the BG/NBD model of repeat-purchase counts (Fader, Hardie & Lee 2005,
  "Counting Your Customers the Easy Way: An Alternative to the Pareto/NBD Model", Marketing
  Science 24(2), 275-284). Gives ``p_alive`` and expected purchases over a horizon.
* :class:`GammaGammaFitter` -- the Gamma-Gamma model of average transaction value (Fader, Hardie
  & Lee 2005, "RFM and CLV: Using Iso-Value Curves for Customer Base Analysis", Journal of
  Marketing Research 42(4), 415-430). Gives the expected order value and the discounted CLV.
* :func:`rfm_summary` -- turns a transaction log into the calibration summary both models fit on.
* :func:`sample_bg_nbd` and :func:`sample_gamma_gamma` -- draw customers from the two generative
  processes (for tests and benchmarks).

Time unit convention: the models have no built-in unit. ``recency``, ``T``, ``t`` and the CLV
horizon are all in whatever unit the caller summarised the transactions in (weeks for the
CDNOW benchmark data, days on the Siyu platform), and the fitted ``alpha`` is in that unit: the
same customers fit in days give ``alpha`` seven times the weekly one, and ``r``, ``a``, ``b``
unchanged. Money is in the currency of ``monetary_value`` (CNY on the platform).

The input triple for a customer observed over ``(0, T]`` from their first purchase:

* ``frequency`` (x): number of repeat purchase periods (the first purchase does not count).
* ``recency`` (t_x): time from the first to the last purchase (0 when ``frequency`` is 0).
* ``T``: time from the first purchase to the end of the calibration window.
* ``monetary_value``: mean value of the repeat purchases (0 when ``frequency`` is 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, digamma, gammaln, hyp2f1

from ml.minimums import MIN_REPEAT_BUYERS

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]

__all__ = [
    "MIN_REPEAT_BUYERS",
    "BetaGeoFitter",
    "GammaGammaFitter",
    "cannot_score_reason",
    "rfm_summary",
    "sample_bg_nbd",
    "sample_gamma_gamma",
    "score_buyers",
]


# --------------------------------------------------------------------------------------------
# shared helpers


def _as_float_arrays(*arrays: ArrayLike) -> tuple[FloatArray, ...]:
    out = tuple(np.asarray(a, dtype=np.float64) for a in arrays)
    return tuple(np.broadcast_arrays(*out))


def _collapse(
    columns: tuple[FloatArray, ...], weights: FloatArray
) -> tuple[tuple[FloatArray, ...], FloatArray]:
    """Distinct rows of ``columns`` and the summed ``weights`` of the customers on each.

    The likelihoods depend on a customer only through these columns, so fitting on the
    distinct rows weighted by their counts gives the same optimum at a fraction of the cost (a
    million day-level customers collapse to a few hundred thousand rows, weekly ones to far
    fewer). A lexsort is several times faster than ``np.unique(axis=0)`` here.
    """
    order = np.lexsort(columns[::-1])
    sorted_cols = tuple(c[order] for c in columns)
    is_new = np.ones(order.size, dtype=bool)
    is_new[1:] = np.any([np.diff(c) != 0 for c in sorted_cols], axis=0)
    starts = np.flatnonzero(is_new)
    summed = np.add.reduceat(weights[order], starts) if order.size else weights[:0]
    return tuple(c[starts] for c in sorted_cols), summed


def _weighted_sum(weights: FloatArray, values: FloatArray) -> float:
    # einsum rather than ``@``: a BLAS dot spins up its thread pool on every call, which costs
    # more than the sum itself on a small machine and dominated the optimiser's time
    return float(np.einsum("i,i->", weights, values))


def _weights(weights: ArrayLike | None, shape: tuple[int, ...]) -> FloatArray:
    if weights is None:
        return np.ones(shape)
    w = np.broadcast_to(np.asarray(weights, dtype=np.float64), shape)
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite and non-negative (customers per row)")
    return w


_WARM_START_ROWS = 20_000


def _minimize_log_params(
    objective: Any,
    n_params: int,
    data: tuple[FloatArray, ...],
    penalizer_coef: float,
    initial_params: ArrayLike | None,
) -> tuple[FloatArray, Any]:
    """Minimise ``objective(log_params, *data, penalizer_coef) -> (value, gradient)``.

    L-BFGS-B over log-parameters with the analytical gradient, tolerances tight enough to pin
    the parameters well beyond the three decimals they are published to. ``data`` are the
    collapsed columns with the weights last. On large inputs without ``initial_params`` it
    first fits an evenly spaced subsample of about 20,000 rows, which lands close to the
    optimum for a fraction of the cost, and starts the full fit from there.
    """
    if initial_params is not None:
        x0 = np.log(np.asarray(initial_params, dtype=np.float64))
    elif data[0].size > 2 * _WARM_START_ROWS:
        step = data[0].size // _WARM_START_ROWS
        subsample = tuple(column[::step] for column in data)
        x0, _ = _minimize_log_params(objective, n_params, subsample, penalizer_coef, None)
    else:
        x0 = np.zeros(n_params)
    result = minimize(
        objective,
        x0,
        args=(*data, penalizer_coef),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10, "maxcor": 20},
    )
    if not np.all(np.isfinite(result.x)):
        raise RuntimeError(f"optimiser diverged: {result.message}")
    return result.x, result


#: Largest gradient component (of the mean log-likelihood over log-parameters) at which a fit
#: counts as converged even when L-BFGS-B stops with ABNORMAL: with ftol 1e-15 its line search
#: can find no float step that still lowers the objective once it sits at the optimum
#: (scipy 1.17 says ABNORMAL where earlier releases said CONVERGENCE on the same CDNOW fit).
CONVERGED_GRADIENT = 1e-6


def converged(result: Any) -> bool:
    """Whether an L-BFGS-B result is at a stationary point: scipy says so, or the gradient is
    below :data:`CONVERGED_GRADIENT`."""
    return bool(result.success) or bool(np.max(np.abs(result.jac)) < CONVERGED_GRADIENT)


def _check_customers(frequency: FloatArray, recency: FloatArray, T: FloatArray) -> None:
    problems = []
    if np.any(frequency < 0) or np.any(frequency != np.floor(frequency)):
        problems.append("frequency must be a non-negative whole number of repeat purchases")
    if np.any(recency < 0) or np.any(recency > T):
        problems.append("recency must lie in [0, T]")
    if np.any((frequency == 0) & (recency != 0)):
        problems.append("recency must be 0 where frequency is 0")
    if np.any(T <= 0):
        problems.append("T must be positive")
    if problems:
        raise ValueError(
            "invalid customer summary: "
            + "; ".join(problems)
            + " (build it with ml.clv.rfm_summary)"
        )


# --------------------------------------------------------------------------------------------
# BG/NBD


def _bg_nbd_log_likelihood_terms(
    params: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per-customer pieces of the BG/NBD log-likelihood (paper eq. 6, section 7 of the note).

    ``log L = A + logaddexp(B1, B2)`` where B2 is the "died after the last purchase" term and
    is absent (``-inf``) for customers with no repeat purchase.
    """
    r, alpha, a, b = params
    has_repeat = x > 0
    x_1 = np.maximum(x, 1.0)  # keeps betaln(a + 1, b + x - 1) finite where the term is masked
    base = betaln(a, b)
    A = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    B1 = betaln(a, b + x) - base - (r + x) * np.log(alpha + T)
    B2 = np.where(
        has_repeat,
        betaln(a + 1.0, b + x_1 - 1.0) - base - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    return A, B1, B2, has_repeat, x_1


def _bg_nbd_objective(
    log_params: FloatArray,
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,
    weights: FloatArray,
    penalizer_coef: float,
) -> tuple[float, FloatArray]:
    """Mean negative log-likelihood (+ L2 penalty on the parameters) and its gradient."""
    params = np.exp(log_params)
    r, alpha, a, b = params
    A, B1, B2, has_repeat, x_1 = _bg_nbd_log_likelihood_terms(params, x, t_x, T)
    lse = np.logaddexp(B1, B2)
    ll = A + lse
    w1 = np.exp(B1 - lse)
    w2 = np.exp(B2 - lse)  # exactly 0 where B2 is -inf

    psi_ab = digamma(a + b)
    psi_abx = digamma(a + b + x)
    psi_b = digamma(b)
    log_alpha_T = np.log(alpha + T)
    log_alpha_tx = np.log(alpha + t_x)
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w1 * log_alpha_T - w2 * log_alpha_tx
    d_alpha = r / alpha - (r + x) * (w1 / (alpha + T) + w2 / (alpha + t_x))
    d_a = w1 * (psi_ab - psi_abx) + w2 * np.where(
        has_repeat, digamma(a + 1.0) - digamma(a) + psi_ab - psi_abx, 0.0
    )
    d_b = w1 * (digamma(b + x) - psi_abx - psi_b + psi_ab) + w2 * np.where(
        has_repeat, digamma(b + x_1 - 1.0) - psi_abx - psi_b + psi_ab, 0.0
    )

    total = weights.sum()
    value = -_weighted_sum(weights, ll) / total + penalizer_coef * np.sum(params**2)
    grad_params = -np.array([_weighted_sum(weights, d) for d in (d_r, d_alpha, d_a, d_b)])
    grad_params = grad_params / total + 2.0 * penalizer_coef * params
    return float(value), grad_params * params  # chain rule to log-parameters


class BetaGeoFitter:
    """BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005).

    While alive, a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``
    (shape ``r``, rate ``alpha``, so ``alpha`` is in the time unit of the data); after each
    repeat purchase they drop out for good with probability ``p ~ Beta(a, b)``.

    Parameters
    ----------
    penalizer_coef : float
        Weight of an L2 penalty ``penalizer_coef * (r**2 + alpha**2 + a**2 + b**2)`` added to
        the mean negative log-likelihood (the ``lifetimes`` convention). 0 gives the plain MLE.

    Attributes
    ----------
    params_ : dict[str, float]
        Fitted ``r``, ``alpha``, ``a``, ``b``.
    log_likelihood_ : float
        Total (summed, unpenalised) log-likelihood of the fitting data at ``params_``.
    n_customers_ : int
        Number of customers fitted on.
    n_unique_ : int
        Number of distinct (frequency, recency, T) rows the fit actually evaluated.
    optimizer_result_ : scipy.optimize.OptimizeResult
    converged_ : bool
        The fit is at a stationary point (:func:`converged`).
        The optimiser's report, for diagnosing a fit.
    """

    param_names = ("r", "alpha", "a", "b")

    def __init__(self, penalizer_coef: float = 0.0) -> None:
        self.penalizer_coef = penalizer_coef

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        weights: ArrayLike | None = None,
        initial_params: ArrayLike | None = None,
    ) -> BetaGeoFitter:
        """Fit by maximum likelihood.

        Parameters
        ----------
        frequency, recency, T : array_like
            Per-customer calibration summary (see the module docstring); recency and T in one
            time unit of your choosing.
        weights : array_like, optional
            Number of customers each row stands for (default 1). Identical rows are collapsed
            internally either way.
        initial_params : array_like, optional
            Starting ``(r, alpha, a, b)``; default all ones (from a subsample fit on large inputs).
        """
        x, t_x, T_arr = _as_float_arrays(frequency, recency, T)
        _check_customers(x, t_x, T_arr)
        w = _weights(weights, x.shape)
        (ux, ut, uT), uw = _collapse((x, t_x, T_arr), w)
        log_params, result = _minimize_log_params(
            _bg_nbd_objective, 4, (ux, ut, uT, uw), self.penalizer_coef, initial_params
        )
        params = np.exp(log_params)
        self.params_ = dict(zip(self.param_names, params.tolist(), strict=True))
        self.log_likelihood_ = _weighted_sum(uw, self._log_likelihood(params, ux, ut, uT))
        self.n_customers_ = int(x.size)
        self.n_unique_ = int(ux.size)
        self.optimizer_result_ = result
        self.converged_ = converged(result)
        return self

    def _params(self) -> tuple[float, float, float, float]:
        if not hasattr(self, "params_"):
            raise RuntimeError("BetaGeoFitter is not fitted yet: call fit(frequency, recency, T)")
        p = self.params_
        return p["r"], p["alpha"], p["a"], p["b"]

    @staticmethod
    def _log_likelihood(
        params: ArrayLike, x: FloatArray, t_x: FloatArray, T: FloatArray
    ) -> FloatArray:
        A, B1, B2, _, _ = _bg_nbd_log_likelihood_terms(np.asarray(params), x, t_x, T)
        return A + np.logaddexp(B1, B2)

    def log_likelihood(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Per-customer log-likelihood of the summary ``(frequency, recency, T)`` at ``params_``."""
        x, t_x, T_arr = _as_float_arrays(frequency, recency, T)
        return self._log_likelihood(np.array(self._params()), x, t_x, T_arr)

    def _dropout_odds(self, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        """``delta(x>0) * a/(b+x-1) * ((alpha+T)/(alpha+t_x))**(r+x)``: odds of being dead."""
        r, alpha, a, b = self._params()
        x_1 = np.maximum(x, 1.0)
        log_odds = (
            np.log(a) - np.log(b + x_1 - 1.0) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        )
        return np.where(x > 0, np.exp(log_odds), 0.0)

    def conditional_probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """P(customer still active at T | x, t_x, T) (paper eq. 13 / Fader-Hardie note 021).

        Exactly 1 for ``frequency == 0``: in the BG/NBD a customer can only drop out right
        after a repeat purchase, so one who never repeated is alive by construction.
        """
        x, t_x, T_arr = _as_float_arrays(frequency, recency, T)
        return 1.0 / (1.0 + self._dropout_odds(x, t_x, T_arr))

    def conditional_expected_number_of_purchases_up_to_time(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[Y(t) | x, t_x, T]: expected purchases in ``(T, T + t]`` for a customer (eq. 10).

        ``t`` is a horizon length measured from the end of the calibration window, in the time
        unit of the fit (e.g. ``t=365`` for the next year when fitted in days).
        """
        t_arr, x, t_x, T_arr = _as_float_arrays(t, frequency, recency, T)
        r, alpha, a, b = self._params()
        z = t_arr / (alpha + T_arr + t_arr)
        hyp = hyp2f1(r + x, b + x, a + b + x - 1.0, z)
        log_ratio = (r + x) * (np.log(alpha + T_arr) - np.log(alpha + T_arr + t_arr))
        numerator = (a + b + x - 1.0) / (a - 1.0) * (1.0 - np.exp(log_ratio) * hyp)
        return numerator / (1.0 + self._dropout_odds(x, t_x, T_arr))

    def expected_number_of_purchases_up_to_time(self, t: ArrayLike) -> FloatArray:
        """E[X(t)]: expected repeat purchases in ``(0, t]`` for a new customer (eq. 9).

        ``t`` is measured from the customer's first purchase, in the time unit of the fit.
        """
        t_arr = np.asarray(t, dtype=np.float64)
        r, alpha, a, b = self._params()
        hyp = hyp2f1(r, b, a + b - 1.0, t_arr / (alpha + t_arr))
        return (a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + t_arr)) ** r * hyp)

    def __repr__(self) -> str:
        if not hasattr(self, "params_"):
            return f"BetaGeoFitter(penalizer_coef={self.penalizer_coef})"
        fitted = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return f"BetaGeoFitter(penalizer_coef={self.penalizer_coef}) fitted: {fitted}"


# --------------------------------------------------------------------------------------------
# Gamma-Gamma


def _gamma_gamma_log_likelihood(params: ArrayLike, x: FloatArray, m: FloatArray) -> FloatArray:
    """Per-customer log density of the mean repeat-purchase value ``m`` over ``x`` purchases.

    JMR 2005 eq. (1a): ``zbar * x ~ Gamma(p x, rate nu)`` given ``nu ~ Gamma(q, rate v)``.
    """
    p, q, v = params
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1.0) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(x * m + v)
    )


def _gamma_gamma_objective(
    log_params: FloatArray,
    x: FloatArray,
    m: FloatArray,
    weights: FloatArray,
    penalizer_coef: float,
) -> tuple[float, FloatArray]:
    params = np.exp(log_params)
    p, q, v = params
    px = p * x
    ll = _gamma_gamma_log_likelihood(params, x, m)
    log_xm_v = np.log(x * m + v)
    psi_pxq = digamma(px + q)
    d_p = x * (psi_pxq - digamma(px) + np.log(m) + np.log(x) - log_xm_v)
    d_q = psi_pxq - digamma(q) + np.log(v) - log_xm_v
    d_v = q / v - (px + q) / (x * m + v)
    total = weights.sum()
    value = -_weighted_sum(weights, ll) / total + penalizer_coef * np.sum(params**2)
    grad_params = -np.array([_weighted_sum(weights, d) for d in (d_p, d_q, d_v)]) / total
    grad_params = grad_params + 2.0 * penalizer_coef * params
    return float(value), grad_params * params


class GammaGammaFitter:
    """Gamma-Gamma model of the average value of a customer's repeat purchases.

    Each purchase value is ``Gamma(p, nu)`` (shape ``p``, rate ``nu``) around a customer-level
    ``nu ~ Gamma(q, v)``; it assumes value is independent of purchase frequency, which is worth
    checking (the correlation of ``frequency`` and ``monetary_value`` over repeat buyers
    should be near 0).

    Parameters
    ----------
    penalizer_coef : float
        Weight of an L2 penalty ``penalizer_coef * (p**2 + q**2 + v**2)`` added to the mean
        negative log-likelihood (the ``lifetimes`` convention). 0 gives the plain MLE.

    Attributes
    ----------
    params_ : dict[str, float]
        Fitted ``p``, ``q``, ``v`` (``v`` in currency units).
    log_likelihood_ : float
        Total (summed, unpenalised) log-likelihood of the repeat buyers fitted on.
    n_customers_ : int
        Number of repeat buyers (``frequency > 0``) fitted on.
    optimizer_result_ : scipy.optimize.OptimizeResult
    converged_ : bool
        The fit is at a stationary point (:func:`converged`).
    """

    param_names = ("p", "q", "v")

    def __init__(self, penalizer_coef: float = 0.0) -> None:
        self.penalizer_coef = penalizer_coef

    def fit(
        self,
        frequency: ArrayLike,
        monetary_value: ArrayLike,
        weights: ArrayLike | None = None,
        initial_params: ArrayLike | None = None,
    ) -> GammaGammaFitter:
        """Fit by maximum likelihood on the repeat buyers.

        Rows with ``frequency == 0`` carry no information on spend and are dropped, so the
        whole customer summary can be passed. ``monetary_value`` is the mean value of the
        repeat purchases and must be positive for every repeat buyer.
        """
        x, m = _as_float_arrays(frequency, monetary_value)
        w = _weights(weights, x.shape)
        repeat = x > 0
        x, m, w = x[repeat], m[repeat], w[repeat]
        if x.size == 0:
            raise ValueError("GammaGammaFitter needs at least one customer with frequency > 0")
        if np.any(m <= 0):
            bad = int(np.flatnonzero(m <= 0)[0])
            raise ValueError(
                f"monetary_value must be > 0 for repeat buyers; repeat buyer #{bad} has "
                f"{m[bad]!r}: drop zero-value or refund-only customers before fitting"
            )
        (ux, um), uw = _collapse((x, m), w)
        log_params, result = _minimize_log_params(
            _gamma_gamma_objective, 3, (ux, um, uw), self.penalizer_coef, initial_params
        )
        params = np.exp(log_params)
        self.params_ = dict(zip(self.param_names, params.tolist(), strict=True))
        self.log_likelihood_ = _weighted_sum(uw, _gamma_gamma_log_likelihood(params, ux, um))
        self.n_customers_ = int(x.size)
        self.optimizer_result_ = result
        self.converged_ = converged(result)
        return self

    def _params(self) -> tuple[float, float, float]:
        if not hasattr(self, "params_"):
            raise RuntimeError(
                "GammaGammaFitter is not fitted yet: call fit(frequency, monetary_value)"
            )
        return self.params_["p"], self.params_["q"], self.params_["v"]

    def log_likelihood(self, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
        """Per-customer log-likelihood at ``params_`` (repeat buyers only; NaN elsewhere)."""
        x, m = _as_float_arrays(frequency, monetary_value)
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = _gamma_gamma_log_likelihood(np.array(self._params()), x, m)
        return np.where(x > 0, ll, np.nan)

    def conditional_expected_average_profit(
        self, frequency: ArrayLike, monetary_value: ArrayLike
    ) -> FloatArray:
        """E[Z | x, zbar]: expected value of a customer's future purchases (JMR 2005 eq. 5).

        A credibility-weighted mix of the population mean ``p v / (q - 1)`` and the customer's
        own ``monetary_value``, the weight on the latter growing with ``frequency``. For
        ``frequency == 0`` it is the population mean. Currency units of ``monetary_value``.
        """
        x, m = _as_float_arrays(frequency, monetary_value)
        p, q, v = self._params()
        return p * (v + x * m) / (p * x + q - 1.0)

    def customer_lifetime_value(
        self,
        bgf: BetaGeoFitter,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        monetary_value: ArrayLike,
        time: float = 365.0,
        discount_rate: float = 0.01,
        freq: float = 365.25 / 12,
    ) -> FloatArray:
        """Discounted expected value of each customer's purchases over the next ``time``.

        The horizon ``(T, T + time]`` after the calibration window is cut into discounting
        periods of length ``freq``; the last one is shorter when ``time`` is not a multiple of
        ``freq``. For each period ending at ``s_k = min(k * freq, time)`` it takes the expected
        purchases in ``(s_{k-1}, s_k]`` from ``bgf`` times the expected order value from this
        model, discounted by ``(1 + discount_rate) ** (s_k / freq)``; i.e. cash is taken at the
        end of each period and ``discount_rate`` is the rate per period of length ``freq``.

        Units: ``time`` and ``freq`` are in the time unit ``bgf`` was fitted in. The defaults
        suit a model fitted in days: a 365-day horizon in average-month periods
        (30.4375 days) at 1% a month (about 12.7% a year). A weekly model wants e.g.
        ``time=52, freq=52/12``. ``lifetimes``' ``time=12, freq="D"`` (12 steps of 30 days)
        is ``time=360, freq=30`` here. The result is in the currency of ``monetary_value``.
        """
        x, t_x, T_arr, m = _as_float_arrays(frequency, recency, T, monetary_value)
        order_value = self.conditional_expected_average_profit(x, m)
        return order_value * discounted_expected_purchases(
            bgf, x, t_x, T_arr, time=time, discount_rate=discount_rate, freq=freq
        )

    def __repr__(self) -> str:
        if not hasattr(self, "params_"):
            return f"GammaGammaFitter(penalizer_coef={self.penalizer_coef})"
        fitted = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return f"GammaGammaFitter(penalizer_coef={self.penalizer_coef}) fitted: {fitted}"


def discounted_expected_purchases(
    bgf: BetaGeoFitter,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    time: float = 365.0,
    discount_rate: float = 0.01,
    freq: float = 365.25 / 12,
) -> FloatArray:
    """Expected purchases in ``(T, T + time]``, each period of length ``freq`` discounted by
    ``(1 + discount_rate) ** (s_k / freq)`` at its end ``s_k``: CLV divided by the order value.

    Units as in :meth:`GammaGammaFitter.customer_lifetime_value`.
    """
    if time <= 0 or freq <= 0:
        raise ValueError(f"time and freq must be positive, got time={time}, freq={freq}")
    x, t_x, T_arr = _as_float_arrays(frequency, recency, T)
    ends = np.minimum(np.arange(1, int(np.ceil(time / freq - 1e-12)) + 1) * freq, time)
    cumulative = bgf.conditional_expected_number_of_purchases_up_to_time(
        ends[:, None], x[None, :], t_x[None, :], T_arr[None, :]
    )
    per_period = np.diff(cumulative, axis=0, prepend=0.0)
    discount = (1.0 + discount_rate) ** (-(ends / freq))
    return np.einsum("k,kn->n", discount, per_period)


# --------------------------------------------------------------------------------------------
# data preparation and simulation


def rfm_summary(
    transactions: pd.DataFrame,
    customer_col: str,
    datetime_col: str,
    monetary_col: str | None,
    observation_end: Any,
    freq: str = "D",
    periods_per_unit: float = 1.0,
    *,
    with_first_purchase: bool = False,
) -> pd.DataFrame:
    """Calibration summary (frequency, recency, T, monetary_value) per customer.

    Transactions after ``observation_end`` are ignored; the window for each customer runs from
    their first purchase to ``observation_end`` inclusive.

    Parameters
    ----------
    transactions : DataFrame
        One row per order (or order line).
    customer_col, datetime_col, monetary_col : str
        Column names. ``monetary_col`` may be None, giving ``monetary_value`` 0.
    observation_end : datetime-like
        Last instant of the calibration window (e.g. ``"1997-09-30"``).
    freq : str
        Pandas period alias for a purchase period: purchases by one customer in the same period
        (e.g. the same calendar day for ``"D"``) count as one purchase whose value is their sum.
    periods_per_unit : float
        How many ``freq`` periods make one reported time unit: 1 reports recency and T in
        ``freq`` periods; ``freq="D", periods_per_unit=7`` reports weeks measured to the day
        (the CDNOW convention).
    with_first_purchase : bool
        Also return ``first_purchase_value``, the value of the first purchase period (which
        ``monetary_value`` leaves out): what a customer without a repeat purchase spent.

    Sums run in the order of the rows: pass integer-valued amounts (e.g. cents) when the result
    must not depend on that order to the last bit.

    Returns
    -------
    DataFrame indexed by customer with columns

    * ``frequency`` -- repeat purchase periods (periods with a purchase, less the first);
    * ``recency`` -- time from the first to the last purchase period;
    * ``T`` -- time from the first purchase period to the period of ``observation_end``;
    * ``monetary_value`` -- mean value of the repeat purchase periods, 0 without repeats;
    * ``first_purchase_value`` -- only with ``with_first_purchase``.
    """
    cols = [customer_col, datetime_col] + ([monetary_col] if monetary_col else [])
    missing = [c for c in cols if c not in transactions.columns]
    if missing:
        raise KeyError(f"rfm_summary: transactions has no column(s) {missing}")
    end_ordinal = pd.Period(pd.Timestamp(observation_end), freq=freq).ordinal
    when = pd.to_datetime(transactions[datetime_col])
    frame = pd.DataFrame(
        {
            "customer": transactions[customer_col].to_numpy(),
            "period": when.dt.to_period(freq).array.asi8,
            "value": (
                transactions[monetary_col].to_numpy(dtype=np.float64)
                if monetary_col
                else np.zeros(len(transactions))
            ),
        }
    )
    frame = frame[frame["period"] <= end_ordinal]
    periods = frame.groupby(["customer", "period"], sort=True)["value"].sum().reset_index()
    per_customer = periods.groupby("customer", sort=True).agg(
        first=("period", "min"),
        last=("period", "max"),
        n=("period", "size"),
        total=("value", "sum"),
        first_value=("value", "first"),
    )
    frequency = per_customer["n"] - 1
    repeats_total = per_customer["total"] - per_customer["first_value"]
    summary = pd.DataFrame(
        {
            "frequency": frequency.astype(np.float64),
            "recency": (per_customer["last"] - per_customer["first"]) / periods_per_unit,
            "T": (end_ordinal - per_customer["first"]) / periods_per_unit,
            "monetary_value": (repeats_total / frequency.where(frequency > 0)).fillna(0.0),
        }
    )
    if with_first_purchase:
        summary["first_purchase_value"] = per_customer["first_value"].astype(np.float64)
    summary.index.name = customer_col
    return summary


def sample_bg_nbd(
    T: ArrayLike,
    r: float,
    alpha: float,
    a: float,
    b: float,
    seed: int | np.random.Generator | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Draw (frequency, recency) for customers observed for ``T`` from the BG/NBD process.

    Each customer gets ``lambda ~ Gamma(r, rate alpha)`` and ``p ~ Beta(a, b)``; they make
    repeat purchases as a Poisson(lambda) process and drop out after each with probability
    ``p``. Exact and loop-free: with ``N ~ Poisson(lambda T)`` arrivals in ``(0, T]`` and the
    dropout purchase ``J ~ Geometric(p)``, ``frequency = min(N, J)`` and the time of the
    ``x``-th of ``N`` uniform arrivals is ``T * Beta(x, N - x + 1)``. Time unit of ``T`` and
    ``alpha`` alike; recency is continuous (floor it to mimic day-level data).
    """
    rng = np.random.default_rng(seed)
    T_arr = np.asarray(T, dtype=np.float64)
    lam = rng.gamma(shape=r, scale=1.0 / alpha, size=T_arr.shape)
    p = rng.beta(a, b, size=T_arr.shape)
    n_arrivals = rng.poisson(lam * T_arr)
    dropout_after = rng.geometric(p)
    x = np.minimum(n_arrivals, dropout_after)
    has_repeat = x > 0
    recency = np.zeros_like(T_arr)
    recency[has_repeat] = T_arr[has_repeat] * rng.beta(
        x[has_repeat], n_arrivals[has_repeat] - x[has_repeat] + 1
    )
    return x.astype(np.float64), recency


def sample_gamma_gamma(
    frequency: ArrayLike,
    p: float,
    q: float,
    v: float,
    seed: int | np.random.Generator | None = None,
) -> FloatArray:
    """Draw each customer's mean repeat-purchase value from the Gamma-Gamma process.

    ``nu ~ Gamma(q, rate v)``; the mean of ``x`` purchase values ``Gamma(p, rate nu)`` is
    ``Gamma(p x, rate x nu)``. Returns 0 where ``frequency`` is 0.
    """
    rng = np.random.default_rng(seed)
    x = np.asarray(frequency, dtype=np.float64)
    nu = rng.gamma(shape=q, scale=1.0 / v, size=x.shape)
    out = np.zeros_like(x)
    repeat = x > 0
    out[repeat] = rng.gamma(shape=p * x[repeat], scale=1.0 / (x[repeat] * nu[repeat]))
    return out


def score_buyers(
    transactions: pd.DataFrame,
    observation_end: Any,
    *,
    horizon_days: float = 365.0,
    monthly_discount_rate: float = 0.01,
    penalizer_coef: float = 0.001,
) -> tuple[pd.DataFrame, BetaGeoFitter, GammaGammaFitter]:
    """Fit BG/NBD and Gamma-Gamma on daily transactions and score every buyer.

    ``transactions``: customer_id, ordered_at (timestamps strictly before ``observation_end``),
    amount (order value). Time unit: days. Returns one row per buyer (index customer_id, sorted)
    with p_alive, expected_orders_<h>d, expected_order_value and clv_<h>d (discounted in
    average-month steps at ``monthly_discount_rate``), plus the fitted models.

    A purchase is a calendar day with orders (:func:`rfm_summary` with ``freq="D"``): orders of one
    customer on one day are one purchase worth their sum. Amounts are rounded to the cent first
    and summed in whole cents, so the result does not depend on the order of the rows.

    Order value: Gamma-Gamma's posterior mean for repeat buyers when its population mean exists
    (q > 1); otherwise the buyer's own mean repeat spend. A one-time buyer is valued at their first
    purchase day (Gamma-Gamma would give them the population mean, which with q <= 1 is undefined).

    Raises ``ValueError`` when :func:`cannot_score_reason` gives a reason; ask it first.
    """
    summary = _summary_in_cents(transactions, observation_end)
    reason = _cannot_fit_reason(summary)
    if reason:
        raise ValueError(f"cannot fit BG/NBD + Gamma-Gamma: {reason}")
    f, r, t = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))
    m = summary["monetary_value"].to_numpy() / 100.0
    first_value = summary["first_purchase_value"].to_numpy() / 100.0
    bgf = BetaGeoFitter(penalizer_coef=penalizer_coef).fit(f, r, t)
    ggf = GammaGammaFitter(penalizer_coef=penalizer_coef).fit(f, m)
    if ggf.params_["q"] > 1:
        repeat_value = ggf.conditional_expected_average_profit(
            np.maximum(f, 1), np.where(f > 0, m, first_value)
        )
    else:
        repeat_value = m
    order_value = np.where(f > 0, repeat_value, first_value)
    discounted = discounted_expected_purchases(
        bgf, f, r, t, time=horizon_days, discount_rate=monthly_discount_rate
    )
    horizon = int(horizon_days)
    scores = pd.DataFrame(
        {
            "p_alive": bgf.conditional_probability_alive(f, r, t),
            f"expected_orders_{horizon}d": bgf.conditional_expected_number_of_purchases_up_to_time(
                horizon_days, f, r, t
            ),
            "expected_order_value": order_value,
            f"clv_{horizon}d": order_value * discounted,
        },
        index=summary.index,
    )
    return scores, bgf, ggf


def cannot_score_reason(transactions: pd.DataFrame, observation_end: Any) -> str | None:
    """Why :func:`score_buyers` cannot fit on these transactions (``None`` when it can).

    It needs at least one buyer before ``observation_end`` and :data:`MIN_REPEAT_BUYERS` repeat
    buyers (purchases on two or more calendar days).
    """
    return _cannot_fit_reason(_summary_in_cents(transactions, observation_end))


def _cannot_fit_reason(summary: pd.DataFrame) -> str | None:
    if summary.empty:
        return "no buyers: no non-refunded order before the cutoff"
    repeat_buyers = int((summary["frequency"] > 0).sum())
    if repeat_buyers < MIN_REPEAT_BUYERS:
        return (
            f"too few repeat buyers: {repeat_buyers} of {len(summary)} buyers bought on two or "
            f"more days, need {MIN_REPEAT_BUYERS}"
        )
    return None


def _summary_in_cents(transactions: pd.DataFrame, observation_end: Any) -> pd.DataFrame:
    """Daily :func:`rfm_summary` with money in whole cents (monetary_value, first_purchase_value).

    Integer-valued floats add up exactly (below 2**53 cents), so the per-day and per-customer sums,
    hence the fit, are the same whatever the order of the rows.
    """
    cents = np.round(transactions["amount"].to_numpy(dtype=np.float64) * 100.0)
    in_cents = pd.DataFrame(
        {
            "customer_id": transactions["customer_id"].to_numpy(),
            "ordered_at": transactions["ordered_at"].to_numpy(),
            "amount_cents": cents,
        }
    )
    return rfm_summary(
        in_cents,
        "customer_id",
        "ordered_at",
        "amount_cents",
        observation_end,
        freq="D",
        with_first_purchase=True,
    )

"""Tests for ml.clv: BG/NBD, Gamma-Gamma and the RFM summary.

Published numbers come from two sources, both on the CDNOW sample (2,357 customers, 39-week
calibration window ending 1997-09-30, time in weeks):

* Fader, Hardie & Lee (2005), Marketing Science: BG/NBD r 0.243, alpha 4.414, a 0.793,
  b 2.426, log-likelihood -9582.4; and JMR (2005): Gamma-Gamma p 6.25, q 3.74, gamma 15.44,
  fitted on the unrounded mean spends.
* The `lifetimes` README/quickstart, which fits the same models on the shipped summary CSV
  (mean spends rounded to cents, hence v 15.45 there) and prints predictions we compare with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate

from ml.clv import (
    BetaGeoFitter,
    GammaGammaFitter,
    rfm_summary,
    sample_bg_nbd,
    sample_gamma_gamma,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cdnow"


@pytest.fixture(scope="module")
def cdnow_summary() -> pd.DataFrame:
    """The shipped 39-week calibration summary (weeks, spends rounded to cents)."""
    raw = pd.read_csv(FIXTURES / "cdnow_customers_summary_with_transactions.csv", index_col="ID")
    return raw.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"})


@pytest.fixture(scope="module")
def cdnow_transactions() -> pd.DataFrame:
    return pd.read_csv(
        FIXTURES / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "n_cds", "value_usd"],
        dtype={"date": str},
    ).assign(date=lambda d: pd.to_datetime(d["date"], format="%Y%m%d"))


@pytest.fixture(scope="module")
def cdnow_rfm(cdnow_transactions: pd.DataFrame) -> pd.DataFrame:
    return rfm_summary(
        cdnow_transactions,
        customer_col="customer_id",
        datetime_col="date",
        monetary_col="value_usd",
        observation_end="1997-09-30",
        freq="D",
        periods_per_unit=7,
    )


@pytest.fixture(scope="module")
def bgf(cdnow_summary: pd.DataFrame) -> BetaGeoFitter:
    s = cdnow_summary
    return BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])


@pytest.fixture(scope="module")
def ggf_lifetimes(cdnow_summary: pd.DataFrame) -> GammaGammaFitter:
    return GammaGammaFitter().fit(cdnow_summary["frequency"], cdnow_summary["monetary_value"])


# --------------------------------------------------------------------------------------------
# rfm_summary


def test_rfm_summary_reproduces_the_published_cdnow_summary(
    cdnow_rfm: pd.DataFrame, cdnow_summary: pd.DataFrame
) -> None:
    assert list(cdnow_rfm.columns) == ["frequency", "recency", "T", "monetary_value"]
    assert cdnow_rfm.index.equals(cdnow_summary.index)
    np.testing.assert_array_equal(cdnow_rfm["frequency"], cdnow_summary["frequency"])
    # the published file is rounded to two decimals
    for col in ["recency", "T", "monetary_value"]:
        np.testing.assert_allclose(cdnow_rfm[col], cdnow_summary[col], rtol=0, atol=0.005 + 1e-9)


def test_rfm_summary_collapses_same_period_purchases_and_ignores_later_ones() -> None:
    tx = pd.DataFrame(
        {
            "user": ["u1", "u1", "u1", "u1", "u1", "u2", "u3"],
            "at": pd.to_datetime(
                [
                    "2024-01-01 09:00",
                    "2024-01-01 18:00",  # first day: one purchase of 30
                    "2024-01-05 10:00",
                    "2024-01-05 11:00",  # repeat day: one purchase of 50
                    "2024-02-01 00:00",  # after observation_end: ignored
                    "2024-01-08 00:00",
                    "2024-03-01 00:00",  # first purchase after observation_end: no row
                ]
            ),
            "amount": [10.0, 20.0, 20.0, 30.0, 999.0, 7.0, 5.0],
        }
    )
    out = rfm_summary(tx, "user", "at", "amount", observation_end="2024-01-10")
    expected = pd.DataFrame(
        {
            "frequency": [1.0, 0.0],
            "recency": [4.0, 0.0],
            "T": [9.0, 2.0],
            "monetary_value": [50.0, 0.0],
        },
        index=pd.Index(["u1", "u2"], name="user"),
    )
    pd.testing.assert_frame_equal(out, expected)

    weekly = rfm_summary(tx, "user", "at", None, observation_end="2024-01-10", freq="W")
    assert weekly.loc["u1", "frequency"] == 0  # 1 and 5 January share an ISO week
    assert (weekly["monetary_value"] == 0).all()


def test_rfm_summary_names_a_missing_column() -> None:
    with pytest.raises(KeyError, match="amount"):
        rfm_summary(pd.DataFrame({"user": [], "at": []}), "user", "at", "amount", "2024-01-01")


# --------------------------------------------------------------------------------------------
# BG/NBD against the published CDNOW results


def test_bg_nbd_reproduces_published_cdnow_parameters(bgf: BetaGeoFitter) -> None:
    # full values: r 0.242593, alpha 4.413532, a 0.792886, b 2.425753
    fitted = {k: round(v, 3) for k, v in bgf.params_.items()}
    assert fitted == {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert round(bgf.log_likelihood_, 1) == -9582.4
    assert bgf.n_customers_ == 2357
    assert bgf.converged_


def test_bg_nbd_from_transactions_matches_too(cdnow_rfm: pd.DataFrame) -> None:
    s = cdnow_rfm
    fitted = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"]).params_
    assert {k: round(v, 3) for k, v in fitted.items()} == {
        "r": 0.243,
        "alpha": 4.414,
        "a": 0.793,
        "b": 2.426,
    }


def test_bg_nbd_reproduces_lifetimes_top_predictions(
    bgf: BetaGeoFitter, cdnow_summary: pd.DataFrame
) -> None:
    s = cdnow_summary
    predicted = pd.Series(
        bgf.conditional_expected_number_of_purchases_up_to_time(
            1, s["frequency"], s["recency"], s["T"]
        ),
        index=s.index,
    )
    top = predicted.sort_values().tail(5)
    assert list(top.index) == [509, 841, 1981, 157, 1516]
    np.testing.assert_allclose(
        top.to_numpy(), [0.424877, 0.474738, 0.486526, 0.662396, 0.710623], rtol=2e-5
    )


def test_bg_nbd_paper_example_customer(bgf: BetaGeoFitter) -> None:
    # customer 1 (x=2, t_x=30.43, T=38.86): 1.226 purchases expected in the next 39 weeks
    expected = bgf.conditional_expected_number_of_purchases_up_to_time(39, 2, 30.43, 38.86)
    assert round(float(expected), 3) == 1.226


def test_weighted_fit_equals_fit_on_repeated_rows(cdnow_summary: pd.DataFrame) -> None:
    s = cdnow_summary.iloc[:600]
    weights = np.arange(600) % 3 + 1
    repeated = s.loc[s.index.repeat(weights)]
    by_weight = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"], weights=weights)
    by_rows = BetaGeoFitter().fit(repeated["frequency"], repeated["recency"], repeated["T"])
    for name in BetaGeoFitter.param_names:
        assert by_weight.params_[name] == pytest.approx(by_rows.params_[name], rel=1e-6)
    assert by_weight.log_likelihood_ == pytest.approx(by_rows.log_likelihood_, rel=1e-9)


def test_time_unit_only_rescales_alpha(cdnow_summary: pd.DataFrame, bgf: BetaGeoFitter) -> None:
    s = cdnow_summary
    days = BetaGeoFitter().fit(s["frequency"], s["recency"] * 7, s["T"] * 7)
    assert days.params_["alpha"] == pytest.approx(bgf.params_["alpha"] * 7, rel=1e-5)
    for name in ["r", "a", "b"]:
        assert days.params_[name] == pytest.approx(bgf.params_[name], rel=1e-5)
    weekly = bgf.conditional_probability_alive(s["frequency"], s["recency"], s["T"])
    daily = days.conditional_probability_alive(s["frequency"], s["recency"] * 7, s["T"] * 7)
    np.testing.assert_allclose(daily, weekly, rtol=1e-5)


def test_log_likelihood_sums_to_the_fitted_value(
    bgf: BetaGeoFitter, cdnow_summary: pd.DataFrame
) -> None:
    s = cdnow_summary
    per_customer = bgf.log_likelihood(s["frequency"], s["recency"], s["T"])
    assert per_customer.shape == (2357,)
    assert np.all(per_customer < 0)
    assert per_customer.sum() == pytest.approx(bgf.log_likelihood_, rel=1e-12)


def test_penalizer_shrinks_the_parameters(cdnow_summary: pd.DataFrame, bgf: BetaGeoFitter) -> None:
    s = cdnow_summary
    penalised = BetaGeoFitter(penalizer_coef=0.1).fit(s["frequency"], s["recency"], s["T"])
    norm = lambda p: sum(v**2 for v in p.values())  # noqa: E731
    assert norm(penalised.params_) < norm(bgf.params_)
    assert penalised.log_likelihood_ < bgf.log_likelihood_


# --------------------------------------------------------------------------------------------
# BG/NBD predictions: against direct integration over the posterior, and sanity


def _posterior_integrals(
    params: dict[str, float], x: float, t_x: float, T: float, t: float
) -> tuple[float, float]:
    """(P(alive), E[Y(t)]) by integrating the posterior over p numerically -- no 2F1.

    Given p, the Gamma(r, alpha) integrals over lambda are elementary; the hypergeometric
    function in the closed form comes from the remaining Beta(a, b) integral over p, done here
    with quadrature (the Beta weight is handled exactly by quad's algebraic weight).
    """
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    beta_weight = {"weight": "alg", "wvar": (a - 1.0, b - 1.0), "epsabs": 0, "epsrel": 1e-10}

    def alive(p: float) -> float:  # still active at T
        return (1 - p) ** x * (alpha + T) ** -(r + x)

    def dead(p: float) -> float:  # dropped out right after the purchase at t_x
        return p * (1 - p) ** (x - 1) * (alpha + t_x) ** -(r + x) if x > 0 else 0.0

    def purchases_if_alive(p: float) -> float:
        # E[(1 - exp(-lambda p t)) / p], the expected purchases over a geometric lifetime,
        # against the alive part of the posterior
        if p == 0.0:  # the limit: an immortal customer buys at the posterior rate for t
            return alive(p) * (r + x) * t / (alpha + T)
        log_ratio = -(r + x) * np.log1p(p * t / (alpha + T))
        return alive(p) * -np.expm1(log_ratio) / p

    def over_p(f) -> float:
        return integrate.quad(f, 0, 1, **beta_weight)[0]

    total = over_p(lambda p: alive(p) + dead(p))
    return over_p(alive) / total, over_p(purchases_if_alive) / total


@pytest.mark.parametrize(
    ("x", "t_x", "T", "t"),
    [(2, 30.43, 38.86, 39.0), (0, 0.0, 38.86, 10.0), (7, 29.43, 38.86, 52.0), (1, 1.71, 30.0, 5.0)],
)
def test_predictions_match_direct_posterior_integration(
    bgf: BetaGeoFitter, x: float, t_x: float, T: float, t: float
) -> None:
    p_alive, expected = _posterior_integrals(bgf.params_, x, t_x, T, t)
    assert bgf.conditional_probability_alive(x, t_x, T) == pytest.approx(p_alive, rel=1e-7)
    assert bgf.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T) == pytest.approx(
        expected, rel=1e-6
    )


def test_p_alive_is_one_without_repeat_purchases(bgf: BetaGeoFitter) -> None:
    # in the BG/NBD a customer can only drop out right after a repeat purchase
    T = np.array([0.5, 10.0, 38.86, 500.0])
    np.testing.assert_array_equal(bgf.conditional_probability_alive(0, 0, T), 1.0)


def test_p_alive_monotonicity(bgf: BetaGeoFitter) -> None:
    recency = np.linspace(0.5, 38.0, 50)
    by_recency = bgf.conditional_probability_alive(3, recency, 38.86)
    assert np.all(np.diff(by_recency) > 0)  # a more recent last purchase: more likely alive
    by_age = bgf.conditional_probability_alive(3, 10.0, np.linspace(10.0, 100.0, 50))
    assert np.all(np.diff(by_age) < 0)  # a longer silence since: less likely alive
    by_frequency = bgf.conditional_probability_alive(np.arange(1, 20), 10.0, 38.86)
    assert np.all(np.diff(by_frequency) < 0)  # the more frequent, the louder a silence
    assert np.all((by_frequency > 0) & (by_frequency < 1))


def test_conditional_expected_purchases_sanity(bgf: BetaGeoFitter) -> None:
    horizon = np.linspace(0.0, 200.0, 41)
    path = bgf.conditional_expected_number_of_purchases_up_to_time(horizon, 2, 30.43, 38.86)
    assert path[0] == 0.0
    assert np.all(np.diff(path) > 0)
    # more repeat purchases with the same recency and age: more expected purchases
    by_frequency = bgf.conditional_expected_number_of_purchases_up_to_time(
        10, np.arange(0, 10), 30.0, 38.86
    )
    assert np.all(np.diff(by_frequency) > 0)
    by_recency = bgf.conditional_expected_number_of_purchases_up_to_time(
        10, 5, np.linspace(5.0, 38.0, 20), 38.86
    )
    assert np.all(np.diff(by_recency) > 0)


def test_a_brand_new_customer_is_predicted_like_the_population(bgf: BetaGeoFitter) -> None:
    t = np.array([1.0, 13.0, 39.0, 78.0])
    conditional = bgf.conditional_expected_number_of_purchases_up_to_time(t, 0, 0, 1e-12)
    np.testing.assert_allclose(conditional, bgf.expected_number_of_purchases_up_to_time(t))


def test_expected_purchases_matches_simulation(bgf: BetaGeoFitter) -> None:
    horizon = 39.0
    frequency, _ = sample_bg_nbd(np.full(400_000, horizon), **bgf.params_, seed=7)
    expected = float(bgf.expected_number_of_purchases_up_to_time(horizon))
    standard_error = frequency.std() / np.sqrt(frequency.size)
    assert abs(frequency.mean() - expected) < 4 * standard_error


def test_expected_purchases_tracks_the_cdnow_calibration_period(
    bgf: BetaGeoFitter, cdnow_summary: pd.DataFrame
) -> None:
    # each customer's E[X(T)] over their own age: 1.058 a customer against 1.042 observed
    expected = bgf.expected_number_of_purchases_up_to_time(cdnow_summary["T"].to_numpy())
    assert expected.mean() == pytest.approx(cdnow_summary["frequency"].mean(), abs=0.03)


def test_simulated_recency_is_consistent(bgf: BetaGeoFitter) -> None:
    T = np.linspace(1.0, 60.0, 10_000)
    frequency, recency = sample_bg_nbd(T, **bgf.params_, seed=3)
    assert np.all((recency >= 0) & (recency <= T))
    assert np.all(recency[frequency == 0] == 0)
    assert np.all(recency[frequency > 0] > 0)


def test_fit_recovers_simulation_parameters() -> None:
    truth = {"r": 0.5, "alpha": 20.0, "a": 0.8, "b": 3.0}  # days
    rng = np.random.default_rng(2024)
    T = rng.integers(30, 366, size=100_000).astype(float)
    frequency, recency = sample_bg_nbd(T, **truth, seed=rng)
    fitted = BetaGeoFitter().fit(frequency, recency, T).params_
    for name, value in truth.items():
        assert fitted[name] == pytest.approx(value, rel=0.08), name


def test_fit_rejects_impossible_summaries() -> None:
    with pytest.raises(ValueError, match=r"recency must lie in \[0, T\]"):
        BetaGeoFitter().fit([1, 2], [5.0, 50.0], [10.0, 10.0])
    with pytest.raises(ValueError, match="recency must be 0 where frequency is 0"):
        BetaGeoFitter().fit([0], [3.0], [10.0])
    with pytest.raises(ValueError, match="whole number"):
        BetaGeoFitter().fit([1.5], [3.0], [10.0])
    with pytest.raises(RuntimeError, match="not fitted"):
        BetaGeoFitter().conditional_probability_alive(1, 1, 2)


# --------------------------------------------------------------------------------------------
# Gamma-Gamma


def test_gamma_gamma_reproduces_the_paper_from_transactions(cdnow_rfm: pd.DataFrame) -> None:
    # full values: p 6.249572, q 3.744225, v 15.443521 (unrounded mean spends, as in the paper)
    ggf = GammaGammaFitter().fit(cdnow_rfm["frequency"], cdnow_rfm["monetary_value"])
    assert ggf.n_customers_ == 946
    p, q, v = ggf.params_["p"], ggf.params_["q"], ggf.params_["v"]
    assert (round(p, 2), round(q, 2), round(v, 2)) == (6.25, 3.74, 15.44)


def test_gamma_gamma_reproduces_lifetimes_on_the_rounded_summary(
    ggf_lifetimes: GammaGammaFitter,
) -> None:
    # full values: p 6.248802, q 3.744589, v 15.447748 (spends rounded to cents)
    p, q, v = (ggf_lifetimes.params_[k] for k in ("p", "q", "v"))
    assert (round(p, 2), round(q, 2), round(v, 2)) == (6.25, 3.74, 15.45)
    assert ggf_lifetimes.converged_
    assert np.max(np.abs(ggf_lifetimes.optimizer_result_.jac)) < 1e-6


def test_expected_average_profit_matches_lifetimes(
    ggf_lifetimes: GammaGammaFitter, cdnow_summary: pd.DataFrame
) -> None:
    s = cdnow_summary
    profit = ggf_lifetimes.conditional_expected_average_profit(s["frequency"], s["monetary_value"])
    np.testing.assert_allclose(
        profit[:10],
        [
            24.658619,
            18.911489,
            35.170981,
            35.170981,
            35.170981,
            71.462843,
            18.911489,
            35.170981,
            27.282408,
            35.170981,
        ],
        rtol=2e-6,
    )
    assert profit.mean() == pytest.approx(35.2529588256, rel=2e-6)
    p, q, v = (ggf_lifetimes.params_[k] for k in ("p", "q", "v"))
    assert profit[2] == pytest.approx(p * v / (q - 1))  # no repeats: the population mean


def test_expected_average_profit_shrinks_towards_the_population_mean(
    ggf_lifetimes: GammaGammaFitter,
) -> None:
    p, q, v = (ggf_lifetimes.params_[k] for k in ("p", "q", "v"))
    population = p * v / (q - 1)
    frequency = np.arange(1, 200)
    high = ggf_lifetimes.conditional_expected_average_profit(frequency, 100.0)
    assert np.all(np.diff(high) > 0) and np.all(high < 100.0) and np.all(high > population)
    assert high[-1] == pytest.approx(100.0, rel=0.02)


def test_gamma_gamma_log_likelihood(ggf_lifetimes: GammaGammaFitter, cdnow_summary) -> None:
    s = cdnow_summary
    ll = ggf_lifetimes.log_likelihood(s["frequency"], s["monetary_value"])
    assert np.isnan(ll[s["frequency"].to_numpy() == 0]).all()
    assert np.nansum(ll) == pytest.approx(ggf_lifetimes.log_likelihood_, rel=1e-12)


def test_gamma_gamma_recovers_simulation_parameters() -> None:
    truth = {"p": 6.0, "q": 4.0, "v": 15.0}
    rng = np.random.default_rng(11)
    frequency = rng.integers(0, 15, size=100_000).astype(float)
    spend = sample_gamma_gamma(frequency, **truth, seed=rng)
    assert np.all(spend[frequency == 0] == 0) and np.all(spend[frequency > 0] > 0)
    fitted = GammaGammaFitter().fit(frequency, spend).params_
    for name, value in truth.items():
        assert fitted[name] == pytest.approx(value, rel=0.05), name


def test_gamma_gamma_rejects_non_positive_spend() -> None:
    with pytest.raises(ValueError, match="monetary_value must be > 0"):
        GammaGammaFitter().fit([1, 2, 0], [10.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="frequency > 0"):
        GammaGammaFitter().fit([0, 0], [0.0, 0.0])


# --------------------------------------------------------------------------------------------
# customer lifetime value


def test_clv_matches_lifetimes(
    ggf_lifetimes: GammaGammaFitter, bgf: BetaGeoFitter, cdnow_summary: pd.DataFrame
) -> None:
    # lifetimes' time=12 months, freq="D" is 12 steps of 30 time units at 1% a step
    s = cdnow_summary.iloc[:10]
    clv = ggf_lifetimes.customer_lifetime_value(
        bgf,
        s["frequency"],
        s["recency"],
        s["T"],
        s["monetary_value"],
        time=360,
        discount_rate=0.01,
        freq=30,
    )
    np.testing.assert_allclose(
        clv,
        [
            140.096211,
            18.943467,
            38.180574,
            38.180574,
            38.180574,
            1003.868107,
            28.109683,
            38.180574,
            167.418216,
            38.180574,
        ],
        rtol=2e-6,
    )


def test_clv_without_discounting_is_profit_times_expected_purchases(
    ggf_lifetimes: GammaGammaFitter, bgf: BetaGeoFitter, cdnow_summary: pd.DataFrame
) -> None:
    s = cdnow_summary.iloc[:50]
    args = (bgf, s["frequency"], s["recency"], s["T"], s["monetary_value"])
    undiscounted = ggf_lifetimes.customer_lifetime_value(*args, time=52, discount_rate=0.0, freq=4)
    expected = ggf_lifetimes.conditional_expected_average_profit(
        s["frequency"], s["monetary_value"]
    ) * bgf.conditional_expected_number_of_purchases_up_to_time(
        52, s["frequency"], s["recency"], s["T"]
    )
    np.testing.assert_allclose(undiscounted, expected, rtol=1e-12)

    # a partial last period, discounted at its own end
    stub = ggf_lifetimes.customer_lifetime_value(*args, time=10, discount_rate=0.1, freq=4)
    cumulative = bgf.conditional_expected_number_of_purchases_up_to_time(
        np.array([[4.0], [8.0], [10.0]]), s["frequency"], s["recency"], s["T"]
    )
    steps = np.diff(cumulative, axis=0, prepend=0.0)
    by_hand = (steps / 1.1 ** np.array([[1.0], [2.0], [2.5]])).sum(axis=0) * (
        ggf_lifetimes.conditional_expected_average_profit(s["frequency"], s["monetary_value"])
    )
    np.testing.assert_allclose(stub, by_hand, rtol=1e-12)

    more_discount = ggf_lifetimes.customer_lifetime_value(
        *args, time=52, discount_rate=0.05, freq=4
    )
    assert np.all(more_discount < undiscounted)
    longer = ggf_lifetimes.customer_lifetime_value(*args, time=104, discount_rate=0.05, freq=4)
    assert np.all(longer > more_discount)


def test_clv_defaults_are_a_year_in_days(cdnow_summary: pd.DataFrame) -> None:
    s = cdnow_summary
    days = BetaGeoFitter().fit(s["frequency"], s["recency"] * 7, s["T"] * 7)
    ggf = GammaGammaFitter().fit(s["frequency"], s["monetary_value"])
    default = ggf.customer_lifetime_value(
        days, s["frequency"], s["recency"] * 7, s["T"] * 7, s["monetary_value"]
    )
    explicit = ggf.customer_lifetime_value(
        days,
        s["frequency"],
        s["recency"] * 7,
        s["T"] * 7,
        s["monetary_value"],
        time=365.0,
        discount_rate=0.01,
        freq=365.25 / 12,
    )
    np.testing.assert_array_equal(default, explicit)
    assert default.shape == (2357,) and np.all(default > 0)


def test_score_buyers_values_every_buyer_non_negatively():
    from ml.clv import score_buyers

    rng = np.random.default_rng(3)
    rows = []
    for i in range(400):
        n = int(rng.integers(1, 6))
        days = np.sort(rng.choice(180, size=n, replace=False))
        for d in days:
            rows.append(
                (
                    f"c{i}",
                    pd.Timestamp("2026-01-01") + pd.Timedelta(days=int(d)),
                    float(rng.gamma(2.0, 50.0)),
                )
            )
    tx = pd.DataFrame(rows, columns=["customer_id", "ordered_at", "amount"])
    scores, bgf, ggf = score_buyers(tx, pd.Timestamp("2026-07-01"))
    assert len(scores) == tx["customer_id"].nunique()
    assert (
        (scores[["p_alive", "expected_orders_365d", "expected_order_value", "clv_365d"]] >= 0)
        .all()
        .all()
    )
    assert ((scores["p_alive"] > 0) & (scores["p_alive"] <= 1)).all()
    one_time = tx.groupby("customer_id").filter(lambda g: len(g) == 1)
    first = one_time.set_index("customer_id")["amount"]
    # valued at their one order, rounded to the cent
    assert np.allclose(scores.loc[first.index, "expected_order_value"], first.round(2))


def test_score_buyers_names_why_it_cannot_fit_without_buyers_or_repeat_buyers():
    from ml.clv import MIN_REPEAT_BUYERS, cannot_score_reason, score_buyers

    end = pd.Timestamp("2026-03-01")
    none = pd.DataFrame(
        {
            "customer_id": pd.Series(dtype=object),
            "ordered_at": pd.Series(dtype="datetime64[ns]"),
            "amount": pd.Series(dtype=float),
        }
    )
    assert cannot_score_reason(none, end) == "no buyers: no non-refunded order before the cutoff"
    one_timers = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "ordered_at": pd.to_datetime(["2026-01-05", "2026-02-01"]),
            "amount": [10.0, 20.0],
        }
    )
    assert cannot_score_reason(one_timers, end) == (
        f"too few repeat buyers: 0 of 2 buyers bought on two or more days, need {MIN_REPEAT_BUYERS}"
    )
    with pytest.raises(ValueError, match="too few repeat buyers"):
        score_buyers(one_timers, end)
    # same-day orders are one purchase: a second order on the first day is no repeat
    same_day = pd.concat([one_timers, one_timers.assign(amount=1.0)], ignore_index=True)
    assert "0 of 2 buyers" in cannot_score_reason(same_day, end)
    assert cannot_score_reason(_same_day_buyers(), pd.Timestamp("2026-07-01")) is None


def _same_day_buyers() -> pd.DataFrame:
    """Buyers whose same-day orders make one purchase day, with amounts that are not whole cents."""
    rng = np.random.default_rng(11)
    rows = [
        # one-time buyer: two orders on one day at the same instant, and one later that day
        ("once", pd.Timestamp("2026-01-05 10:00"), 30.10),
        ("once", pd.Timestamp("2026-01-05 10:00"), 0.20),
        ("once", pd.Timestamp("2026-01-05 18:30"), 12.346),
        # a second one-time buyer with a single order
        ("single", pd.Timestamp("2026-02-01 09:00"), 19.999),
    ]
    for i in range(60):  # repeat buyers so that BG/NBD and Gamma-Gamma have something to fit
        days = np.sort(rng.choice(150, size=int(rng.integers(2, 6)), replace=False))
        for d in days:
            at = pd.Timestamp("2026-01-01") + pd.Timedelta(
                days=int(d), hours=int(rng.integers(8, 22))
            )
            rows.append((f"c{i}", at, float(rng.gamma(2.0, 50.0))))
            if rng.random() < 0.3:  # a second order the same day
                rows.append((f"c{i}", at, float(rng.gamma(2.0, 20.0))))
    return pd.DataFrame(rows, columns=["customer_id", "ordered_at", "amount"])


def test_score_buyers_does_not_depend_on_the_row_order_of_same_day_orders():
    from ml.clv import score_buyers

    tx = _same_day_buyers()
    end = pd.Timestamp("2026-07-01")
    reference, _, _ = score_buyers(tx, end)
    for seed in range(5):
        shuffled = tx.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        scores, _, _ = score_buyers(shuffled, end)
        pd.testing.assert_frame_equal(scores, reference, check_exact=True)
    # a purchase day is one purchase: the one-time buyer is valued at the day's total, in cents
    assert reference.loc["once", "expected_order_value"] == 42.65  # 30.10 + 0.20 + 12.346 (12.35)
    assert reference.loc["single", "expected_order_value"] == 20.00


def test_score_buyers_rounds_amounts_to_the_cent_before_fitting():
    from ml.clv import score_buyers

    tx = _same_day_buyers()
    cents = tx.assign(amount=tx["amount"].round(2))
    end = pd.Timestamp("2026-07-01")
    raw, raw_bgf, raw_ggf = score_buyers(tx, end)
    rounded, bgf, ggf = score_buyers(cents, end)
    pd.testing.assert_frame_equal(raw, rounded, check_exact=True)
    assert raw_ggf.params_ == ggf.params_ and raw_bgf.params_ == bgf.params_

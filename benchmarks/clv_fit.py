"""Time BG/NBD + Gamma-Gamma fits on simulated customers (default one million).

Customers are drawn from the BG/NBD and Gamma-Gamma generative processes with the published
CDNOW estimates converted from weeks to days (r 0.243, alpha 4.414 * 7 = 30.898 days, a 0.793,
b 2.426; p 6.25, q 3.74, v 15.44), first purchases spread uniformly over the two years before
the end of observation, and recency rounded to whole days, as ``ml.clv.rfm_summary(freq="D")``
would report it. Prints the timings and the recovered parameters; asserts nothing.

    .venv/bin/python benchmarks/clv_fit.py [--customers 1000000] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ml.clv import BetaGeoFitter, GammaGammaFitter, sample_bg_nbd, sample_gamma_gamma

TRUE_BG_NBD_DAYS = {"r": 0.243, "alpha": 4.414 * 7, "a": 0.793, "b": 2.426}
TRUE_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    T = rng.integers(1, 731, size=args.customers).astype(np.float64)  # days since first order
    frequency, recency = sample_bg_nbd(T, **TRUE_BG_NBD_DAYS, seed=rng)
    recency = np.round(recency)
    monetary_value = sample_gamma_gamma(frequency, **TRUE_GAMMA_GAMMA, seed=rng)
    simulate_s = time.perf_counter() - start

    start = time.perf_counter()
    bgf = BetaGeoFitter().fit(frequency, recency, T)
    bgf_s = time.perf_counter() - start

    start = time.perf_counter()
    ggf = GammaGammaFitter().fit(frequency, monetary_value)
    ggf_s = time.perf_counter() - start

    print(f"customers: {args.customers:,}  simulate: {simulate_s:.2f} s")
    print(
        f"BG/NBD fit: {bgf_s:.2f} s over {bgf.n_unique_:,} distinct (frequency, recency, T) "
        f"rows, {bgf.optimizer_result_.nit} iterations"
    )
    print(f"Gamma-Gamma fit: {ggf_s:.2f} s over {ggf.n_customers_:,} repeat buyers")
    print(f"total fit: {bgf_s + ggf_s:.2f} s")
    for name, fitted in [*bgf.params_.items(), *ggf.params_.items()]:
        truth = {**TRUE_BG_NBD_DAYS, **TRUE_GAMMA_GAMMA}[name]
        print(f"  {name:>5}: fitted {fitted:9.4f}  true {truth:9.4f}")


if __name__ == "__main__":
    main()

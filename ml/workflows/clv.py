"""Daily CLV: BG/NBD + Gamma-Gamma fitted on the non-refunded orders before a cutoff, every
buyer scored as the typed ml.user_clv table; or the empty table and why (too few repeat
buyers)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd

from ml.clv import cannot_score_reason, score_buyers
from ml.workflows.contract import CLV_HORIZON_DAYS, ml_frame

#: Discounting of the expected purchases, per average month (1% a month).
CLV_MONTHLY_DISCOUNT = 0.01
TABLE = "user_clv"


@dataclass(frozen=True, eq=False)
class ClvScores:
    """One CLV fit and scoring.

    Attributes:
        frame: the ml.user_clv table (empty when ``reason`` is set).
        as_of: the exclusive cutoff of the orders; the rows' ``clv_as_of``.
        reason: why nothing was fitted ("CLV not fitted: ..."), or None.
        repeat_buyers: buyers with purchases on two or more days (Gamma-Gamma's customers).
        fit_seconds: wall time of the fit and scoring.
        bgnbd_params, gamma_gamma_params: the fitted parameters.
    """

    frame: pd.DataFrame
    as_of: pd.Timestamp
    reason: str | None = None
    repeat_buyers: int = 0
    fit_seconds: float = 0.0
    bgnbd_params: dict[str, float] = field(default_factory=dict)
    gamma_gamma_params: dict[str, float] = field(default_factory=dict)

    @property
    def total_clv_cny(self) -> float:
        """Sum of every buyer's discounted CLV over the horizon, CNY."""
        return float(self.frame[f"clv_{CLV_HORIZON_DAYS}d"].sum())


def score_clv(
    orders: pd.DataFrame,
    as_of: pd.Timestamp,
    *,
    horizon_days: int = CLV_HORIZON_DAYS,
    monthly_discount_rate: float = CLV_MONTHLY_DISCOUNT,
) -> ClvScores:
    """Fit BG/NBD + Gamma-Gamma on ``orders`` and score every buyer at ``as_of``.

    Args:
        orders: non-refunded orders strictly before ``as_of``: customer_id (the person_id),
            ordered_at, amount (float, CNY), as warehouse.features.read_clv_orders returns them.
            Strictly before, so every buyer's age T is at least one day.
        as_of: the exclusive cutoff (the day after the last loaded day).
        horizon_days: how far ahead the expected orders and CLV reach, days; the table's column
            names carry :data:`CLV_HORIZON_DAYS`, so another horizon is for experiments only.
        monthly_discount_rate: discounting per average month.
    """
    reason = cannot_score_reason(orders, as_of)
    if reason:
        return ClvScores(ml_frame(TABLE), as_of, reason=f"CLV not fitted: {reason}")
    started = time.perf_counter()
    scores, bgf, ggf = score_buyers(
        orders, as_of, horizon_days=horizon_days, monthly_discount_rate=monthly_discount_rate
    )
    fit_seconds = time.perf_counter() - started
    frame = ml_frame(TABLE, scores.rename_axis("person_id").reset_index().assign(clv_as_of=as_of))
    return ClvScores(
        frame,
        as_of,
        repeat_buyers=int(ggf.n_customers_),
        fit_seconds=fit_seconds,
        bgnbd_params={k: float(v) for k, v in bgf.params_.items()},
        gamma_gamma_params={k: float(v) for k, v in ggf.params_.items()},
    )

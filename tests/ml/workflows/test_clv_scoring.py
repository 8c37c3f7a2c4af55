"""ml.workflows.clv.score_clv on real orders: no buyers, too few repeat buyers, a fit."""

from __future__ import annotations

import pandas as pd

from ml.minimums import MIN_REPEAT_BUYERS
from ml.workflows.clv import score_clv
from ml.workflows.contract import ML_TABLE_COLUMNS

AS_OF = pd.Timestamp("2025-03-01")
TYPES = {c: str(pd.Series(dtype=t).dtype) for c, t in ML_TABLE_COLUMNS["user_clv"].items()}


def clv_orders(world, before: pd.Timestamp) -> pd.DataFrame:
    """The non-refunded orders before `before`, as warehouse.features.read_clv_orders reads
    them."""
    kept = world.orders[~world.orders["is_refunded"] & (world.orders["ordered_at"] < before)]
    return kept.rename(columns={"person_id": "customer_id"})[
        ["customer_id", "ordered_at", "amount"]
    ].astype({"amount": float})


def buyers(days_per_buyer: list[int]) -> pd.DataFrame:
    """One order a day for each buyer on that many days before AS_OF."""
    rows = [
        (f"p{i}", AS_OF - pd.Timedelta(days=10 * d + 1), 100.0 + d)
        for i, days in enumerate(days_per_buyer)
        for d in range(days)
    ]
    return pd.DataFrame(rows, columns=["customer_id", "ordered_at", "amount"])


def assert_typed(frame: pd.DataFrame) -> None:
    assert {c: str(t) for c, t in frame.dtypes.items()} == TYPES


def test_no_buyers_fits_nothing():
    scores = score_clv(buyers([]), AS_OF)

    assert scores.reason == "CLV not fitted: no buyers: no non-refunded order before the cutoff"
    assert scores.frame.empty
    assert_typed(scores.frame)


def test_too_few_repeat_buyers_fits_nothing():
    orders = buyers([2] * (MIN_REPEAT_BUYERS - 1) + [1] * 5)

    scores = score_clv(orders, AS_OF)

    assert scores.reason == (
        f"CLV not fitted: too few repeat buyers: {MIN_REPEAT_BUYERS - 1} of "
        f"{MIN_REPEAT_BUYERS + 4} buyers bought on two or more days, need {MIN_REPEAT_BUYERS}"
    )
    assert scores.frame.empty and scores.repeat_buyers == 0
    assert scores.bgnbd_params == {} and scores.total_clv_cny == 0.0
    assert_typed(scores.frame)


def test_every_buyer_is_scored(small_world):
    orders = clv_orders(small_world, small_world.end)

    scores = score_clv(orders, small_world.end)

    assert scores.reason is None
    assert_typed(scores.frame)
    assert scores.frame["person_id"].tolist() == sorted(orders["customer_id"].unique())
    assert (scores.frame["clv_as_of"] == small_world.end).all()
    assert scores.frame["p_alive"].between(0, 1).all()
    assert (scores.frame["clv_365d"] >= 0).all()
    assert scores.repeat_buyers >= MIN_REPEAT_BUYERS
    assert set(scores.bgnbd_params) == {"r", "alpha", "a", "b"}
    assert set(scores.gamma_gamma_params) == {"p", "q", "v"}
    assert scores.total_clv_cny == scores.frame["clv_365d"].sum() > 0
    assert scores.fit_seconds > 0

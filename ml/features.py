"""Point-in-time person features: the one feature builder shared by training and scoring.

Every feature for a cutoff ``as_of`` (a calendar date, Asia/Shanghai local time) is computed from
facts that happened strictly before ``as_of 00:00`` local time, for persons first seen strictly
before that instant. Training on a snapshot and scoring today call the same function, so there is
no train/serve skew and no look-ahead.

Inputs are the published marts as DataFrames (see DATA_CONTRACT.md): ``fct_orders``,
``fct_interactions`` and ``dim_users``. Timestamps are local naive ``Asia/Shanghai`` times; a
timezone-aware column is converted to Asia/Shanghai and made naive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

__all__ = [
    "FEATURES",
    "FEATURE_NAMES",
    "NO_EVENT_DAYS",
    "Feature",
    "build_features",
    "cutoff_timestamp",
    "to_local_naive",
]

LOCAL_TZ = "Asia/Shanghai"

#: Value of a "days since last ..." feature when the person never did the thing before the cutoff.
#: Two years: larger than any trailing window used here, small enough not to dominate a log scale.
NO_EVENT_DAYS: float = 730.0

_DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class Feature:
    """One documented feature column."""

    name: str
    unit: str
    window: str
    description: str


FEATURES: list[Feature] = [
    Feature(
        "tenure_days",
        "days",
        "first_seen_at .. cutoff",
        "Days from the person's first_seen_at to the cutoff.",
    ),
    Feature(
        "is_registered", "0/1", "before cutoff", "1 if registered_at is before the cutoff, else 0."
    ),
    Feature(
        "recency_days",
        "days",
        "all history",
        "Days from the last non-refunded order to the cutoff; NO_EVENT_DAYS if none.",
    ),
    Feature("frequency_365d", "orders", "trailing 365 days", "Number of non-refunded orders."),
    Feature("orders_90d", "orders", "trailing 90 days", "Number of non-refunded orders."),
    Feature("orders_30d", "orders", "trailing 30 days", "Number of non-refunded orders."),
    Feature(
        "monetary_total_365d_cny",
        "CNY",
        "trailing 365 days",
        "Sum of amount over non-refunded orders.",
    ),
    Feature(
        "monetary_mean_cny",
        "CNY",
        "trailing 365 days",
        "Mean amount per non-refunded order; 0 if none.",
    ),
    Feature(
        "discount_depth_mean",
        "share 0..1",
        "trailing 365 days",
        "Mean of discount_amount / (amount + discount_amount) over non-refunded orders; 0 if none.",
    ),
    Feature(
        "coupon_order_share",
        "share 0..1",
        "trailing 365 days",
        "Share of non-refunded orders with coupon_used; 0 if none.",
    ),
    Feature(
        "refund_share_365d",
        "share 0..1",
        "trailing 365 days",
        "Share of all orders (refunded included) that were refunded; 0 if none.",
    ),
    Feature(
        "days_since_last_inbound",
        "days",
        "all history",
        "Days from the last inbound interaction to the cutoff; NO_EVENT_DAYS if none.",
    ),
    Feature(
        "days_since_last_active",
        "days",
        "all history",
        "min(recency_days, days_since_last_inbound), counting refunded orders as activity too: "
        "the same notion of activity as the churn label.",
    ),
    Feature("inbound_7d", "interactions", "trailing 7 days", "Inbound interactions, all channels."),
    Feature(
        "inbound_30d", "interactions", "trailing 30 days", "Inbound interactions, all channels."
    ),
    Feature(
        "inbound_90d", "interactions", "trailing 90 days", "Inbound interactions, all channels."
    ),
    Feature(
        "inbound_active_days_30d",
        "days",
        "trailing 30 days",
        "Distinct calendar days with at least one inbound interaction.",
    ),
    Feature("page_views_30d", "events", "trailing 30 days", "Mini-program page_view events."),
    Feature("add_to_cart_30d", "events", "trailing 30 days", "Mini-program add_to_cart events."),
    Feature("shares_90d", "events", "trailing 90 days", "Mini-program share events."),
    Feature("reviews_90d", "events", "trailing 90 days", "Mini-program review events."),
    Feature(
        "task_completes_90d", "events", "trailing 90 days", "Mini-program task_complete events."
    ),
    Feature(
        "ugc_90d",
        "events",
        "trailing 90 days",
        "User-generated content: shares_90d + reviews_90d + task_completes_90d.",
    ),
    Feature("coupon_claims_90d", "events", "trailing 90 days", "Mini-program coupon_claim events."),
    Feature(
        "outbound_touches_per_week_28d",
        "touches / week",
        "trailing 28 days",
        "Outbound touches by the brand (all channels) divided by 4.",
    ),
    Feature(
        "wecom_group_touch_share_90d",
        "share 0..1",
        "trailing 90 days",
        "Share of outbound touches sent through wecom_group; 0 if no touches.",
    ),
    Feature(
        "wecom_1v1_inbound_90d", "interactions", "trailing 90 days", "Inbound WeCom 1:1 messages."
    ),
    # Lifetime behaviour, normalised by active tenure: describes *how* a person behaved while
    # active, so a person who churned long ago still shows their habits (persona segmentation).
    Feature(
        "active_span_days",
        "days",
        "all history",
        "Days from first_seen_at to the last activity (any order, refunded included, or "
        "inbound interaction); 0 if no activity.",
    ),
    Feature(
        "orders_per_100_active_days",
        "orders / 100 days",
        "all history",
        "Non-refunded orders x 100 / (active_span_days + 7); the +7 damps very short spans.",
    ),
    Feature(
        "inbound_per_10_active_days",
        "interactions / 10 days",
        "all history",
        "Inbound interactions (all channels) x 10 / (active_span_days + 7).",
    ),
    Feature(
        "spend_per_active_day_cny",
        "CNY / day",
        "all history",
        "Sum of non-refunded order amounts / (active_span_days + 7).",
    ),
    Feature(
        "order_amount_mean_all_cny",
        "CNY",
        "all history",
        "Mean amount per non-refunded order; 0 if none.",
    ),
    Feature(
        "coupon_order_share_all",
        "share 0..1",
        "all history",
        "Share of non-refunded orders with coupon_used; 0 if none.",
    ),
    Feature(
        "discount_depth_mean_all",
        "share 0..1",
        "all history",
        "Mean of discount_amount / (amount + discount_amount) over non-refunded orders; 0 if none.",
    ),
    Feature(
        "ugc_share_all",
        "share 0..1",
        "all history",
        "Share of inbound mini-program events that are share, review or task_complete; 0 if none.",
    ),
    Feature(
        "coupon_claim_share_all",
        "share 0..1",
        "all history",
        "Share of inbound mini-program events that are coupon_claim; 0 if none.",
    ),
]

#: Column order of :func:`build_features`.
FEATURE_NAMES: list[str] = [f.name for f in FEATURES]


def to_local_naive(values: pd.Series) -> pd.Series:
    """Return timestamps as naive Asia/Shanghai local time (tz-aware input is converted)."""
    ts = pd.to_datetime(values)
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
    return ts


def cutoff_timestamp(as_of: date | datetime | str | pd.Timestamp) -> pd.Timestamp:
    """The exclusive cutoff instant for a cutoff date: ``as_of`` 00:00 local time (naive)."""
    ts = pd.Timestamp(as_of)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(LOCAL_TZ).tz_localize(None)
    return ts.normalize()


def _days_before(cutoff: pd.Timestamp, ts: pd.Series) -> pd.Series:
    """Fractional days between each timestamp and the cutoff (positive for past events)."""
    return (cutoff - ts) / _DAY


def _count(keys: pd.Series, mask: pd.Series | np.ndarray, index: pd.Index) -> pd.Series:
    """Number of rows per person where ``mask`` holds, reindexed to ``index`` with zeros."""
    return keys[mask].value_counts().reindex(index, fill_value=0).astype(float)


def build_features(
    orders: pd.DataFrame,
    interactions: pd.DataFrame,
    users: pd.DataFrame,
    as_of: date | datetime | str | pd.Timestamp,
) -> pd.DataFrame:
    """Build the point-in-time feature matrix for cutoff date ``as_of``.

    Only facts strictly before ``as_of`` 00:00 local time are used: an order placed at exactly
    ``as_of`` 00:00:00 is excluded, one at 23:59:59 the day before is included. The population is
    every person in ``users`` with ``first_seen_at`` strictly before the cutoff.

    Args:
        orders: ``fct_orders`` (order_id, person_id, ordered_at, amount, discount_amount,
            coupon_used, is_refunded); amounts in CNY.
        interactions: ``fct_interactions`` (person_id, occurred_at, channel, direction, scenario).
        users: ``dim_users`` (person_id, first_seen_at, registered_at).
        as_of: the cutoff date; time windows are trailing windows ending at the cutoff
            (``[cutoff - N days, cutoff)``).

    Returns:
        A float DataFrame indexed by ``person_id`` (sorted), columns :data:`FEATURE_NAMES`,
        no missing values.
    """
    cutoff = cutoff_timestamp(as_of)

    first_seen = to_local_naive(users["first_seen_at"])
    people = users.loc[first_seen < cutoff]
    index = pd.Index(people["person_id"].unique(), name="person_id").sort_values()
    out = pd.DataFrame(index=index)

    # --- profile -----------------------------------------------------------------------------
    seen = pd.Series(first_seen[first_seen < cutoff].to_numpy(), index=people["person_id"])
    seen = seen.groupby(level=0).min().reindex(index)
    out["tenure_days"] = _days_before(cutoff, seen).to_numpy()
    if "registered_at" in people:
        reg = to_local_naive(people["registered_at"])
        registered = pd.Series((reg < cutoff).to_numpy(), index=people["person_id"])
        out["is_registered"] = registered.groupby(level=0).max().reindex(index).astype(float)
    else:
        out["is_registered"] = 0.0

    # --- orders ------------------------------------------------------------------------------
    o = orders.loc[
        :, ["person_id", "ordered_at", "amount", "discount_amount", "coupon_used", "is_refunded"]
    ].copy()
    o["ordered_at"] = to_local_naive(o["ordered_at"])
    o = o[(o["ordered_at"] < cutoff) & o["person_id"].isin(index)]
    o_age = _days_before(cutoff, o["ordered_at"])
    refunded = o["is_refunded"].fillna(False).astype(bool)
    kept = o[~refunded]
    kept_age = o_age[~refunded]

    last_kept = kept.groupby("person_id")["ordered_at"].max().reindex(index)
    out["recency_days"] = _days_before(cutoff, last_kept).fillna(NO_EVENT_DAYS).to_numpy()
    y365 = kept[kept_age <= 365]
    out["frequency_365d"] = _count(kept["person_id"], kept_age <= 365, index)
    out["orders_90d"] = _count(kept["person_id"], kept_age <= 90, index)
    out["orders_30d"] = _count(kept["person_id"], kept_age <= 30, index)

    amount = y365["amount"].astype(float)
    discount = y365["discount_amount"].fillna(0.0).astype(float)
    gross = amount + discount
    depth = (discount / gross.where(gross > 0)).fillna(0.0)
    per_person = (
        pd.DataFrame(
            {
                "person_id": y365["person_id"].to_numpy(),
                "amount": amount.to_numpy(),
                "depth": depth.to_numpy(),
                "coupon": y365["coupon_used"].fillna(False).astype(float).to_numpy(),
            }
        )
        .groupby("person_id")
        .agg(
            monetary_total_365d_cny=("amount", "sum"),
            monetary_mean_cny=("amount", "mean"),
            discount_depth_mean=("depth", "mean"),
            coupon_order_share=("coupon", "mean"),
        )
    )
    out = out.join(per_person.reindex(index).fillna(0.0))

    all365 = o_age <= 365
    n_all = _count(o["person_id"], all365, index)
    n_ref = _count(o["person_id"], all365 & refunded, index)
    out["refund_share_365d"] = (n_ref / n_all.where(n_all > 0)).fillna(0.0)

    # --- interactions ------------------------------------------------------------------------
    columns = ["person_id", "occurred_at", "channel", "direction", "scenario"]
    it = interactions.loc[:, columns].copy()
    it["occurred_at"] = to_local_naive(it["occurred_at"])
    it = it[(it["occurred_at"] < cutoff) & it["person_id"].isin(index)]
    age = _days_before(cutoff, it["occurred_at"])
    inbound = (it["direction"] == "inbound").to_numpy()
    outbound = (it["direction"] == "outbound").to_numpy()
    mini_in = inbound & (it["channel"] == "miniprogram").to_numpy()
    keys = it["person_id"]

    last_in = it[inbound].groupby("person_id")["occurred_at"].max().reindex(index)
    out["days_since_last_inbound"] = _days_before(cutoff, last_in).fillna(NO_EVENT_DAYS).to_numpy()
    last_order_any = o.groupby("person_id")["ordered_at"].max().reindex(index)
    out["days_since_last_active"] = np.fmin(
        _days_before(cutoff, last_order_any).fillna(NO_EVENT_DAYS).to_numpy(),
        out["days_since_last_inbound"].to_numpy(),
    )
    for days in (7, 30, 90):
        out[f"inbound_{days}d"] = _count(keys, inbound & (age <= days).to_numpy(), index)
    recent_in = it[inbound & (age <= 30).to_numpy()]
    out["inbound_active_days_30d"] = (
        recent_in.assign(day=recent_in["occurred_at"].dt.normalize())
        .drop_duplicates(["person_id", "day"])["person_id"]
        .value_counts()
        .reindex(index, fill_value=0)
        .astype(float)
    )

    scenario = it["scenario"].astype("string").fillna("").to_numpy()
    in30 = (age <= 30).to_numpy()
    in90 = (age <= 90).to_numpy()
    out["page_views_30d"] = _count(keys, mini_in & in30 & (scenario == "page_view"), index)
    out["add_to_cart_30d"] = _count(keys, mini_in & in30 & (scenario == "add_to_cart"), index)
    out["shares_90d"] = _count(keys, mini_in & in90 & (scenario == "share"), index)
    out["reviews_90d"] = _count(keys, mini_in & in90 & (scenario == "review"), index)
    out["task_completes_90d"] = _count(keys, mini_in & in90 & (scenario == "task_complete"), index)
    out["ugc_90d"] = out["shares_90d"] + out["reviews_90d"] + out["task_completes_90d"]
    out["coupon_claims_90d"] = _count(keys, mini_in & in90 & (scenario == "coupon_claim"), index)

    touches_28 = _count(keys, outbound & (age <= 28).to_numpy(), index)
    out["outbound_touches_per_week_28d"] = touches_28 / 4.0
    touches_90 = _count(keys, outbound & in90, index)
    group_90 = _count(keys, outbound & in90 & (it["channel"] == "wecom_group").to_numpy(), index)
    out["wecom_group_touch_share_90d"] = (group_90 / touches_90.where(touches_90 > 0)).fillna(0.0)
    out["wecom_1v1_inbound_90d"] = _count(
        keys, inbound & in90 & (it["channel"] == "wecom_1v1").to_numpy(), index
    )

    # --- lifetime, per active tenure ----------------------------------------------------------
    last_in_any = it[inbound].groupby("person_id")["occurred_at"].max().reindex(index)
    last_any = pd.concat([last_in_any, last_order_any], axis=1).max(axis=1)
    span = (_days_before(cutoff, seen) - _days_before(cutoff, last_any)).clip(lower=0.0)
    out["active_span_days"] = span.fillna(0.0).to_numpy()
    denom = out["active_span_days"] + 7.0
    out["orders_per_100_active_days"] = (
        _count(kept["person_id"], kept_age >= 0, index) * 100.0 / denom
    )
    out["inbound_per_10_active_days"] = _count(keys, inbound, index) * 10.0 / denom
    spend = kept.groupby("person_id")["amount"].sum().reindex(index, fill_value=0.0)
    out["spend_per_active_day_cny"] = spend.astype(float) / denom
    gross_all = kept["amount"].astype(float) + kept["discount_amount"].fillna(0.0).astype(float)
    life = (
        pd.DataFrame(
            {
                "person_id": kept["person_id"].to_numpy(),
                "amount": kept["amount"].astype(float).to_numpy(),
                "depth": (
                    kept["discount_amount"].fillna(0.0).astype(float)
                    / gross_all.where(gross_all > 0)
                )
                .fillna(0.0)
                .to_numpy(),
                "coupon": kept["coupon_used"].fillna(False).astype(float).to_numpy(),
            }
        )
        .groupby("person_id")
        .agg(
            order_amount_mean_all_cny=("amount", "mean"),
            coupon_order_share_all=("coupon", "mean"),
            discount_depth_mean_all=("depth", "mean"),
        )
    )
    out = out.join(life.reindex(index).fillna(0.0))
    n_mini = _count(keys, mini_in, index)
    ugc_all = _count(keys, mini_in & np.isin(scenario, ["share", "review", "task_complete"]), index)
    claims_all = _count(keys, mini_in & (scenario == "coupon_claim"), index)
    out["ugc_share_all"] = (ugc_all / n_mini.where(n_mini > 0)).fillna(0.0)
    out["coupon_claim_share_all"] = (claims_all / n_mini.where(n_mini > 0)).fillna(0.0)

    return out[FEATURE_NAMES].astype(float)

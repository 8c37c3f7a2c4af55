"""Point-in-time feature builder: cutoff semantics, windows and documentation."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from ml.features import FEATURE_NAMES, FEATURES, NO_EVENT_DAYS, build_features

AS_OF = date(2026, 3, 1)


def _users(*rows):
    return pd.DataFrame(
        [
            {
                "person_id": pid,
                "first_seen_at": pd.Timestamp(seen),
                "first_channel": "miniprogram",
                "registered_at": pd.Timestamp(seen),
            }
            for pid, seen in rows
        ]
    )


def _orders(*rows):
    return pd.DataFrame(
        [
            {
                "order_id": f"o{i}",
                "person_id": pid,
                "channel": "online_mall",
                "ordered_at": pd.Timestamp(at),
                "amount": amount,
                "discount_amount": discount,
                "coupon_used": coupon,
                "is_refunded": refunded,
            }
            for i, (pid, at, amount, discount, coupon, refunded) in enumerate(rows)
        ],
        columns=[
            "order_id",
            "person_id",
            "channel",
            "ordered_at",
            "amount",
            "discount_amount",
            "coupon_used",
            "is_refunded",
        ],
    )


def _interactions(*rows):
    return pd.DataFrame(
        [
            {
                "interaction_id": f"i{i}",
                "person_id": pid,
                "occurred_at": pd.Timestamp(at),
                "channel": channel,
                "direction": direction,
                "scenario": scenario,
                "content_type": None,
                "campaign_id": None,
                "experiment_id": None,
                "variant": None,
            }
            for i, (pid, at, channel, direction, scenario) in enumerate(rows)
        ],
        columns=[
            "interaction_id",
            "person_id",
            "occurred_at",
            "channel",
            "direction",
            "scenario",
            "content_type",
            "campaign_id",
            "experiment_id",
            "variant",
        ],
    )


def test_fact_at_cutoff_excluded_and_second_before_included():
    users = _users(("a", "2025-01-01"), ("b", "2025-01-01"))
    orders = _orders(
        ("a", "2026-03-01 00:00:00", 100.0, 0.0, False, False),  # exactly at cutoff: excluded
        ("b", "2026-02-28 23:59:59", 100.0, 0.0, False, False),  # a second before: included
    )
    interactions = _interactions(
        ("a", "2026-03-01 00:00:00", "miniprogram", "inbound", "share"),
        ("b", "2026-02-28 23:59:59", "miniprogram", "inbound", "share"),
    )
    X = build_features(orders, interactions, users, AS_OF)
    assert X.loc["a", "frequency_365d"] == 0
    assert X.loc["a", "recency_days"] == NO_EVENT_DAYS
    assert X.loc["a", "shares_90d"] == 0
    assert X.loc["a", "days_since_last_inbound"] == NO_EVENT_DAYS
    assert X.loc["b", "frequency_365d"] == 1
    assert X.loc["b", "recency_days"] == pytest.approx(1 / 86400)
    assert X.loc["b", "shares_90d"] == 1
    assert X.loc["b", "inbound_7d"] == 1


def test_population_is_persons_first_seen_before_cutoff():
    users = _users(("old", "2026-02-28 23:59:59"), ("new", "2026-03-01 00:00:00"))
    X = build_features(_orders(), _interactions(), users, AS_OF)
    assert list(X.index) == ["old"]
    assert X.index.name == "person_id"
    assert X.loc["old", "tenure_days"] == pytest.approx(1 / 86400)


def test_order_features_and_windows():
    users = _users(("a", "2024-01-01"))
    orders = _orders(
        ("a", "2026-02-20", 80.0, 20.0, True, False),  # depth 0.2, coupon
        ("a", "2025-12-01", 100.0, 0.0, False, False),  # depth 0
        ("a", "2026-02-25", 999.0, 0.0, False, True),  # refunded: not in monetary/frequency
        ("a", "2024-06-01", 500.0, 0.0, False, False),  # older than 365 days
    )
    X = build_features(orders, _interactions(), users, AS_OF)
    row = X.loc["a"]
    assert row["recency_days"] == pytest.approx(9.0)
    assert row["frequency_365d"] == 2
    assert row["orders_90d"] == 2
    assert row["orders_30d"] == 1
    assert row["monetary_total_365d_cny"] == pytest.approx(180.0)
    assert row["monetary_mean_cny"] == pytest.approx(90.0)
    assert row["discount_depth_mean"] == pytest.approx(0.1)
    assert row["coupon_order_share"] == pytest.approx(0.5)
    assert row["refund_share_365d"] == pytest.approx(1 / 3)
    # the refunded order still counts as activity (same notion as the churn label)
    assert row["days_since_last_active"] == pytest.approx(4.0)


def test_interaction_features():
    users = _users(("a", "2025-01-01"), ("quiet", "2025-01-01"))
    interactions = _interactions(
        ("a", "2026-02-28 10:00", "miniprogram", "inbound", "share"),
        ("a", "2026-02-28 11:00", "miniprogram", "inbound", "review"),
        ("a", "2026-02-10 11:00", "miniprogram", "inbound", "task_complete"),
        ("a", "2026-01-10 11:00", "miniprogram", "inbound", "coupon_claim"),
        ("a", "2025-10-01 11:00", "miniprogram", "inbound", "share"),  # older than 90 days
        ("a", "2026-02-20 09:00", "wecom_group", "outbound", "campaign"),
        ("a", "2026-02-21 09:00", "wecom_1v1", "outbound", "campaign"),
        ("a", "2026-02-22 09:00", "wecom_1v1", "outbound", "campaign"),
        ("a", "2026-02-23 09:00", "wecom_1v1", "outbound", "campaign"),
    )
    X = build_features(_orders(), interactions, users, AS_OF)
    a = X.loc["a"]
    assert a["inbound_7d"] == 2
    assert a["inbound_30d"] == 3
    assert a["inbound_90d"] == 4
    assert a["inbound_active_days_30d"] == 2
    assert a["ugc_90d"] == 3
    assert a["coupon_claims_90d"] == 1
    assert a["outbound_touches_per_week_28d"] == pytest.approx(1.0)
    assert a["wecom_group_touch_share_90d"] == pytest.approx(0.25)
    assert a["days_since_last_inbound"] == pytest.approx(13 / 24)
    quiet = X.loc["quiet"]
    assert quiet["days_since_last_inbound"] == NO_EVENT_DAYS
    assert quiet["wecom_group_touch_share_90d"] == 0


def test_documented_columns_no_missing_values_and_deterministic():
    users = _users(("a", "2025-01-01"), ("b", "2025-06-01"))
    orders = _orders(("a", "2026-02-20", 80.0, 20.0, True, False))
    X1 = build_features(orders, _interactions(), users, AS_OF)
    X2 = build_features(orders.iloc[::-1], _interactions(), users.iloc[::-1], AS_OF)
    assert list(X1.columns) == FEATURE_NAMES
    assert len(set(FEATURE_NAMES)) == len(FEATURES)
    assert all(f.description and f.unit and f.window for f in FEATURES)
    assert not X1.isna().any().any()
    pd.testing.assert_frame_equal(X1, X2)


def test_timezone_aware_input_is_read_as_shanghai_local_time():
    users = _users(("a", "2025-01-01"))
    # 2026-02-28 16:00 UTC = 2026-03-01 00:00 Shanghai: at the cutoff, so excluded
    orders = _orders(
        ("a", "2026-02-28 15:59:59", 10.0, 0.0, False, False),
        ("a", "2026-02-28 16:00:00", 10.0, 0.0, False, False),
    )
    orders["ordered_at"] = orders["ordered_at"].dt.tz_localize("UTC")
    X = build_features(orders, _interactions(), users, AS_OF)
    assert X.loc["a", "frequency_365d"] == 1
    assert np.isclose(X.loc["a", "recency_days"], 1 / 86400)


def test_a_brand_without_interactions_or_orders_still_gets_every_feature():
    """A CRM-only brand has an empty fct_interactions (typed, as DuckDB returns it); a brand's
    first days may have no order either."""
    users = _users(("a", "2026-02-01"), ("b", "2026-02-20"))
    no_interactions = _interactions().astype({"occurred_at": "datetime64[us]"})
    orders = _orders(("a", "2026-02-25 10:00", 50.0, 5.0, True, False))
    X = build_features(orders, no_interactions, users, AS_OF)
    assert list(X.columns) == FEATURE_NAMES and not X.isna().any().any()
    assert (X["days_since_last_inbound"] == NO_EVENT_DAYS).all()
    assert (X[["inbound_90d", "ugc_share_all", "outbound_touches_per_week_28d"]] == 0).all().all()
    assert X.loc["a", "days_since_last_active"] == pytest.approx(3 + 14 / 24)
    nothing = build_features(orders.iloc[:0], no_interactions, users, AS_OF)
    assert (nothing["recency_days"] == NO_EVENT_DAYS).all()
    assert (nothing["days_since_last_active"] == NO_EVENT_DAYS).all()
    assert nothing["tenure_days"].tolist() == [28.0, 9.0]

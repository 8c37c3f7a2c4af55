"""Small, valid frames for every published table, built in code (no files).

Each frame satisfies its suite for AS_OF; tests break one thing at a time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

AS_OF = pd.Timestamp("2026-06-30")
N_USERS = 200


def person_ids(n: int = N_USERS) -> pd.Series:
    return pd.Series([f"p{i:05d}" for i in range(n)], name="person_id")


def _days_before(n: int, rng: np.random.Generator, max_days: int) -> pd.Series:
    return pd.Series(AS_OF - pd.to_timedelta(rng.integers(0, max_days, n), unit="D"))


def good_frame(table: str, n: int = N_USERS, seed: int = 0) -> pd.DataFrame:
    """A frame for `table` that passes its suite at AS_OF (with dim_users = person_ids(n))."""
    rng = np.random.default_rng(seed)
    pid = person_ids(n)
    dates = pd.date_range(AS_OF - pd.Timedelta(days=29), AS_OF, freq="D")
    if table == "dim_users":
        first_seen = _days_before(n, rng, 100)
        first_seen.iloc[0] = AS_OF
        return pd.DataFrame(
            {
                "person_id": pid,
                "first_seen_at": first_seen,
                "first_channel": rng.choice(["crm", "wecom", "miniprogram"], n),
                "registered_at": first_seen,
                "member_tier": "silver",
                "city": "上海",
                "birth_month": rng.integers(1, 13, n),
                "has_crm": rng.random(n) < 0.5,
                "has_wecom": rng.random(n) < 0.5,
                "has_miniprogram": rng.random(n) < 0.5,
                "consent_marketing": np.arange(n) % 2 == 0,
                "unsubscribed_at": pd.Series([pd.NaT] * n, dtype="datetime64[us]"),
                "n_identifiers": rng.integers(1, 5, n),
            }
        )
    if table == "fct_orders":
        m = 3 * n
        ordered_at = AS_OF + pd.Timedelta(hours=10) - pd.to_timedelta(rng.integers(0, 60, m), "D")
        return pd.DataFrame(
            {
                "order_id": [f"o{i}" for i in range(m)],
                "person_id": rng.choice(pid, m),
                "channel": rng.choice(["crm", "miniprogram"], m),
                "ordered_at": ordered_at,
                "amount": rng.gamma(2.0, 80.0, m).round(2),
                "discount_amount": 0.0,
                "coupon_used": False,
                "is_refunded": False,
            }
        )
    if table == "fct_interactions":
        m = 5 * n
        occurred_at = AS_OF + pd.Timedelta(hours=9) - pd.to_timedelta(rng.integers(0, 60, m), "D")
        return pd.DataFrame(
            {
                "interaction_id": [f"i{i}" for i in range(m)],
                "person_id": rng.choice(pid, m),
                "occurred_at": occurred_at,
                "channel": rng.choice(["wecom_1v1", "wecom_group", "miniprogram", "sms"], m),
                "direction": rng.choice(["outbound", "inbound"], m),
                "scenario": "birthday",
                "content_type": "coupon",
                "campaign_id": None,
                "experiment_id": None,
                "variant": None,
            }
        )
    if table == "user_rfm":
        return pd.DataFrame(
            {
                "person_id": pid,
                "as_of_date": AS_OF,
                "recency_days": rng.integers(0, 365, n),
                "frequency": rng.integers(1, 20, n),
                "monetary": rng.gamma(2.0, 300.0, n),
                "r_score": rng.integers(1, 6, n),
                "f_score": rng.integers(1, 6, n),
                "m_score": rng.integers(1, 6, n),
                "rfm_tier": rng.choice(["high_value", "potential", "churned", "other"], n),
                "rfm_segment": rng.choice(["champions", "loyal", "at_risk", "hibernating"], n),
            }
        )
    if table == "retention_cohorts":
        idx = pd.MultiIndex.from_product(
            [dates[-5:], ["crm", "wecom"], range(31)],
            names=["cohort_date", "cohort_channel", "day_n"],
        ).to_frame(index=False)
        idx["cohort_size"] = 50
        idx["retained_users"] = rng.integers(0, 51, len(idx))
        idx["retention_rate"] = idx["retained_users"] / idx["cohort_size"]
        return idx
    if table == "retention_summary":
        weeks = pd.date_range(end=AS_OF, periods=4, freq="W-MON")
        idx = pd.MultiIndex.from_product(
            [weeks, ["crm", "wecom"]], names=["cohort_week", "cohort_channel"]
        ).to_frame(index=False)
        for c in ["d1", "d7", "d30", "repurchase_rate_30d"]:
            idx[c] = rng.random(len(idx))
        return idx
    if table == "interaction_retention":
        idx = pd.MultiIndex.from_product(
            [["0", "1", "4+"], ["birthday", "recall"]],
            names=["interaction_frequency_bucket", "scenario"],
        ).to_frame(index=False)
        idx["users"] = rng.integers(1, 100, len(idx))
        idx["d30_retention"] = rng.random(len(idx))
        idx["repurchase_rate"] = rng.random(len(idx))
        return idx
    if table == "engagement_daily":
        k = len(dates)
        total = np.full(k, 1000)
        return pd.DataFrame(
            {
                "date": dates,
                "total_users": total,
                "interacting_users": rng.integers(0, 400, k),
                "interaction_rate": rng.random(k) * 0.4,
                "touches": rng.integers(0, 3000, k),
                "touches_per_user_week": rng.random(k) * 3,
                "community_share": rng.random(k) * 0.4,
                "over_touch_3d_share": rng.random(k) * 0.05,
                "over_touch_7d_share": rng.random(k) * 0.01,
                "sla_2h_breach_rate": rng.random(k) * 0.1,
            }
        )
    if table == "engagement_by_layer":
        layers = [
            ("rfm_tier", "high_value"),
            ("rfm_tier", "no_purchase"),
            ("segment", "content_sharing"),
            ("segment", "unscored"),
        ]
        idx = pd.DataFrame(
            [(d, t, v) for d in dates for t, v in layers],
            columns=["date", "layer_type", "layer_value"],
        )
        k = len(idx)
        idx["persons"] = rng.integers(100, 1000, k)
        idx["interacting_persons"] = (idx["persons"] * rng.random(k)).astype(int)
        idx["interaction_rate"] = idx["interacting_persons"] / idx["persons"]
        high_value = idx["layer_value"] == "high_value"
        idx["target_kpi"] = np.where(high_value, "high_value_interaction_rate", None)
        idx["target"] = np.where(high_value, 0.6, np.nan)
        idx["meets_target"] = pd.array(
            np.where(high_value, idx["interaction_rate"] >= 0.6, None), dtype="boolean"
        )
        idx["trailing_28d"] = idx["interaction_rate"] * (1 + rng.normal(0, 0.1, k))
        idx["change_pct"] = idx["interaction_rate"] / idx["trailing_28d"] - 1
        idx["is_anomaly"] = idx["change_pct"].abs() > 0.15
        return idx
    if table == "user_ltv":
        return pd.DataFrame(
            {
                "person_id": pid,
                "ltv_formula": rng.gamma(2.0, 300.0, n),
                "p_alive": rng.random(n),
                "expected_orders_365d": rng.random(n) * 5,
                "expected_order_value": rng.gamma(2.0, 80.0, n),
                "clv_365d": rng.gamma(2.0, 300.0, n),
            }
        )
    if table == "experiment_results":
        return pd.DataFrame(
            {
                "experiment_id": ["exp_01", "exp_01", "exp_02", "exp_02"],
                "variant": ["control", "treatment"] * 2,
                "users": [1000, 1000, 500, 500],
                "conversions": [100, 130, 40, 45],
                "conversion_rate": [0.10, 0.13, 0.08, 0.09],
                "lift_vs_control": [None, 0.3, None, 0.125],
                "ci_low": [None, 0.05, None, -0.2],
                "ci_high": [None, 0.55, None, 0.45],
                "p_value": [None, 0.04, None, 0.6],
            }
        )
    if table == "kpi_daily":
        idx = pd.MultiIndex.from_product(
            [dates, ["interaction_rate", "next_day_retention"]], names=["date", "kpi"]
        ).to_frame(index=False)
        k = len(idx)
        idx["value"] = rng.random(k)
        idx["target"] = 0.35
        idx["status"] = rng.choice(["green", "amber", "red"], k)
        idx["trailing_28d"] = rng.random(k)
        idx["change_pct"] = rng.normal(0, 0.1, k)
        idx["is_anomaly"] = idx["change_pct"].abs() > 0.15
        return idx
    if table == "user_segments":
        return pd.DataFrame(
            {
                "person_id": pid,
                "segment": rng.choice(
                    ["high_value_paying", "content_sharing", "price_sensitive", "dormant"], n
                ),
                "model_version": "seg-2026.06",
                "scored_at": AS_OF - pd.Timedelta(days=10),
            }
        )
    if table == "user_churn_scores":
        return pd.DataFrame(
            {
                "person_id": pid,
                "churn_probability": rng.random(n),
                "risk_decile": rng.integers(1, 11, n),
                "model_version": "churn-2026.06.30",
                "scored_at": AS_OF + pd.Timedelta(hours=3),
            }
        )
    if table == "next_best_actions":
        contactable = pid[::2].reset_index(drop=True)  # consent_marketing is True on even rows
        k = len(contactable)
        return pd.DataFrame(
            {
                "person_id": contactable,
                "action_date": AS_OF,
                "scenario": "birthday",
                "action": "send_coupon",
                "channel": rng.choice(["wecom_1v1", "wecom_group", "miniprogram", "sms"], k),
                "content_type": "coupon",
                "rule_id": "R03_birthday_default",
                "reason": "birthday this week",
            }
        )
    if table == "registration_forecast":
        future = pd.date_range(AS_OF + pd.Timedelta(days=1), periods=28, freq="D")
        idx = pd.MultiIndex.from_product(
            [future, ["crm", "wecom", "miniprogram"]], names=["date", "channel"]
        ).to_frame(index=False)
        idx["forecast"] = rng.gamma(5.0, 10.0, len(idx))
        idx["lower_80"] = idx["forecast"] * 0.7 - 5
        idx["upper_80"] = idx["forecast"] * 1.3 + 5
        return idx
    if table == "content_performance":
        frame = pd.MultiIndex.from_product(
            [["coupon", "article", "live"], ["all", "recall", "promotion"]],
            names=["content_type", "scenario"],
        ).to_frame(index=False)
        k = len(frame)
        touches = rng.integers(100, 1000, k)
        measured = touches - rng.integers(0, 50, k)
        responded = (measured * rng.uniform(0.05, 0.4, k)).astype(int)
        clicked = (responded * rng.uniform(0, 1, k)).astype(int)
        untouched = rng.uniform(0.2, 0.6, k)
        touched = untouched + rng.uniform(-0.1, 0.1, k)
        return frame.assign(
            touches=touches,
            touched_users=touches // 3,
            measured_touches=measured,
            responded_touches=responded,
            response_rate=responded / measured,
            reply_rate=responded / measured / 2,
            click_rate=clicked / measured,
            claim_rate=responded / measured / 3,
            response_rank=frame.groupby("scenario").cumcount() + 1,
            touched_buyer_months=rng.integers(10, 100, k),
            touched_repurchase_rate_3m=touched,
            untouched_buyer_months=rng.integers(10, 100, k),
            untouched_repurchase_rate_3m=untouched,
            repurchase_rate_diff_3m=touched - untouched,
            diff_ci_low=touched - untouched - 0.1,
            diff_ci_high=touched - untouched + 0.1,
        )
    if table == "campaign_roi":
        k = 12
        messages = rng.integers(50, 500, k)
        touched = messages - rng.integers(0, 40, k)
        cost = np.round(rng.uniform(5, 100, k), 2)
        revenue = np.round(rng.uniform(0, 5000, k), 2)
        first = AS_OF - pd.to_timedelta(rng.integers(1, 60, k), unit="D")
        return pd.DataFrame(
            {
                "campaign_id": [f"cmp_{i:06d}" for i in range(k - 3)] + ["all"] * 3,
                "channel": ["sms", "wecom_1v1", "wecom_group"] * 4,
                "scenario": ["recall"] * (k - 3) + ["all"] * 3,
                "first_sent_at": first,
                "last_sent_at": first + pd.Timedelta(hours=2),
                "messages": messages,
                "mass_sends": np.ones(k, dtype=int),
                "persons_touched": touched,
                "retained_users": touched // 2,
                "retention_rate": (touched // 2) / touched,
                "is_retention_window_closed": np.arange(k) % 2 == 0,
                "interaction_cost_cny": cost,
                "coupon_cost_cny": np.zeros(k),
                "fixed_cost_cny": np.zeros(k),
                "cost_cny": cost,
                "cost_per_retained_user_cny": np.round(cost / (touched // 2), 2),
                "redeemed_coupons": np.zeros(k, dtype=int),
                "attributed_orders": rng.integers(0, 20, k),
                "attributed_revenue_cny": revenue,
                "roi": (revenue - cost) / cost,
            }
        )
    if table == "registration_funnel":
        frame = pd.MultiIndex.from_product(
            [
                ["store", "online_mall", "miniprogram", "wecom"],
                pd.date_range("2026-03-01", "2026-06-01", freq="MS"),
            ],
            names=["channel", "visit_month"],
        ).to_frame(index=False)
        k = len(frame)
        users = rng.integers(50, 200, k)
        phone = (users * 0.7).astype(int)
        members = (phone * 0.6).astype(int)
        first = (members * 0.5).astype(int)
        visits = users + rng.integers(0, 100, k)
        return frame.assign(
            visits=visits,
            reported_visitors=visits,
            miniprogram_users=users,
            authorised_phone_users=phone,
            members=members,
            first_order_users=first,
            phone_rate=phone / visits,
            member_rate=members / phone,
            first_order_rate=first / members,
            overall_conversion_rate=first / visits,
            largest_drop_step="first_order",
            largest_drop_share=1 - first / members,
        )
    if table == "feedback_satisfaction":
        months = pd.date_range("2026-01-01", "2026-06-01", freq="MS")
        counts = rng.integers(5, 60, (len(months), 5))
        scored = counts.sum(axis=1)
        nps = 100 * (counts[:, 4] - counts[:, :3].sum(axis=1)) / scored
        frame = pd.DataFrame({"feedback_month": months, "feedback_count": scored + 1})
        frame["scored_count"] = scored
        for score in range(1, 6):
            frame[f"score_{score}_count"] = counts[:, score - 1]
        return frame.assign(
            avg_score=(counts * np.arange(1, 6)).sum(axis=1) / scored,
            promoters=counts[:, 4],
            passives=counts[:, 3],
            detractors=counts[:, :3].sum(axis=1),
            nps=nps,
            nps_change=pd.Series(nps).diff(),
        )
    if table in ("inbound_message_intents", "human_takeover_queue"):
        intents = ["purchase_intent", "after_sales_complaint", "question", "chit_chat"]
        m = 2 * n
        frame = pd.DataFrame(
            {
                "message_id": message_ids(m),
                "interaction_id": "msg:" + message_ids(m),
                "person_id": rng.choice(pid, m),
                "channel": rng.choice(["wecom_1v1", "wecom_group"], m),
                "intent": np.where(
                    np.arange(m) % 10 == 0, "unsubscribe_request", rng.choice(intents, m)
                ),
                "model_version": "intent-0123456789ab",
                "confidence": rng.uniform(0.25, 1.0, m),
                "sent_at": AS_OF
                + pd.Timedelta(hours=9)
                - pd.to_timedelta(rng.integers(0, 30, m), "D"),
            }
        )
        if table == "inbound_message_intents":
            return frame
        queue = frame[frame["intent"].isin(["after_sales_complaint", "unsubscribe_request"])]
        queue = queue.rename(columns={"sent_at": "message_at"}).drop(columns="model_version")
        replied = rng.random(len(queue)) < 0.9
        queue["due_at"] = queue["message_at"] + pd.Timedelta(hours=2)
        queue["first_reply_at"] = (queue["message_at"] + pd.Timedelta(minutes=30)).where(replied)
        queue["status"] = np.where(replied, "answered_in_time", "overdue")
        return queue.reset_index(drop=True)
    raise KeyError(table)


def message_ids(m: int) -> pd.Series:
    return pd.Series([f"20260601{i:09d}_1780000000" for i in range(m)])


def reference(n: int = N_USERS) -> dict[str, pd.Series]:
    """Reference key sets matching good_frame('dim_users', n)."""
    pid = person_ids(n)
    return {
        "dim_users.person_id": pid,
        "dim_users.contactable_person_id": pid[::2],
        "inbound_message_intents.message_id": message_ids(2 * n),
    }

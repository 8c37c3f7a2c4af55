"""Synthetic marts with planted personas and churn hazards, for the ml/ tests.

Each person has a persona with its own order rate, basket, discount/coupon habits and mini-program
behaviour, and a latent daily churn hazard: activity stops at ``churn_at`` (exponential waiting
time). Dormant persons stop within two months of first being seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

PERSONAS = ("high_value_paying", "content_sharing", "price_sensitive", "dormant")

# per persona: order rate /day, mean amount CNY, discount depth, coupon prob,
# event rates /day (share, review, task_complete, coupon_claim, page_view, wecom_1v1 inbound),
# outbound touches /day, base hazard /day
PARAMS = {
    "high_value_paying": dict(
        order=1 / 15,
        amount=800,
        depth=0.04,
        coupon=0.1,
        share=0.004,
        review=0.004,
        task=0.004,
        claim=0.005,
        view=0.3,
        chat=0.05,
        touch=0.3,
        hazard=0.002,
    ),
    "content_sharing": dict(
        order=1 / 60,
        amount=150,
        depth=0.08,
        coupon=0.2,
        share=0.15,
        review=0.06,
        task=0.1,
        claim=0.01,
        view=0.5,
        chat=0.03,
        touch=0.3,
        hazard=0.003,
    ),
    "price_sensitive": dict(
        order=1 / 25,
        amount=110,
        depth=0.3,
        coupon=0.85,
        share=0.005,
        review=0.004,
        task=0.01,
        claim=0.12,
        view=0.3,
        chat=0.02,
        touch=0.4,
        hazard=0.004,
    ),
    "dormant": dict(
        order=1 / 80,
        amount=120,
        depth=0.1,
        coupon=0.3,
        share=0.002,
        review=0.001,
        task=0.002,
        claim=0.01,
        view=0.05,
        chat=0.005,
        touch=0.2,
        hazard=0.0,
    ),
}


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """One BLAS/OpenMP thread: tests are fast and reproducible on a busy shared machine."""
    with threadpool_limits(limits=1):
        yield


@dataclass
class World:
    users: pd.DataFrame
    orders: pd.DataFrame
    interactions: pd.DataFrame
    persons: pd.DataFrame  # person_id, persona, hazard, churn_at, activity (rate multiplier)
    start: pd.Timestamp
    end: pd.Timestamp  # exclusive end of the data


def _events(rng, person_idx, rate, span_start, span_days):
    """Poisson event times per person, uniform over [span_start, span_start + span_days)."""
    n = rng.poisson(np.clip(rate * span_days, 0, None))
    who = np.repeat(person_idx, n)
    offset = rng.random(n.sum()) * np.repeat(span_days, n)
    return who, np.repeat(span_start, n) + pd.to_timedelta(offset, unit="D")


def make_world(
    n_per_persona: int = 300,
    *,
    start: str = "2025-01-01",
    days: int = 420,
    seed: int = 0,
    hazard_scale: float = 1.0,
    onboarding_days: int = 120,
) -> World:
    rng = np.random.default_rng(seed)
    start_ts = pd.Timestamp(start)
    end_ts = start_ts + pd.Timedelta(days=days)
    personas = np.repeat(np.array(PERSONAS), n_per_persona)
    n = len(personas)
    pid = np.array([f"p{seed}_{i:05d}" for i in range(n)])
    p = {k: np.array([PARAMS[x][k] for x in personas], dtype=float) for k in PARAMS[PERSONAS[0]]}

    first_seen = start_ts + pd.to_timedelta(rng.random(n) * onboarding_days, unit="D")
    # latent activity level: persons with more activity churn less (a signal beyond recency)
    activity = rng.lognormal(0.0, 0.5, n)
    hazard = p["hazard"] * hazard_scale * rng.lognormal(0.0, 0.6, n) / activity
    wait = np.where(hazard > 0, rng.exponential(1 / np.maximum(hazard, 1e-12)), np.inf)
    dormant = personas == "dormant"
    wait = np.where(dormant, rng.uniform(10, 60, n), wait)
    wait_days = np.minimum(wait, 10_000.0)
    churn_at = first_seen + pd.to_timedelta(wait_days, unit="D")
    active_end = np.minimum(churn_at.to_numpy(), np.datetime64(end_ts))
    span = np.clip((active_end - first_seen.to_numpy()) / np.timedelta64(1, "D"), 0, None)
    idx = np.arange(n)
    fs = first_seen.to_numpy()

    who, at = _events(rng, idx, p["order"] * activity, fs, span)
    amount = rng.gamma(4.0, p["amount"][who] / 4.0).round(2)
    depth = np.clip(rng.normal(p["depth"][who], 0.05), 0, 0.8)
    orders = pd.DataFrame(
        {
            "order_id": [f"o{seed}_{i}" for i in range(len(who))],
            "person_id": pid[who],
            "channel": "online_mall",
            "ordered_at": pd.DatetimeIndex(at).floor("s"),
            "amount": amount,
            "discount_amount": (amount * depth / (1 - depth)).round(2),
            "coupon_used": rng.random(len(who)) < p["coupon"][who],
            "is_refunded": rng.random(len(who)) < 0.03,
        }
    )

    parts = []
    for key, scenario, channel in [
        ("share", "share", "miniprogram"),
        ("review", "review", "miniprogram"),
        ("task", "task_complete", "miniprogram"),
        ("claim", "coupon_claim", "miniprogram"),
        ("view", "page_view", "miniprogram"),
        ("chat", "chat", "wecom_1v1"),
    ]:
        w, t = _events(rng, idx, p[key] * activity, fs, span)
        parts.append(
            pd.DataFrame(
                {
                    "person_id": pid[w],
                    "occurred_at": t,
                    "channel": channel,
                    "direction": "inbound",
                    "scenario": scenario,
                }
            )
        )
    # the brand keeps touching everyone, churned or not, until the end of the data
    full_span = (np.datetime64(end_ts) - fs) / np.timedelta64(1, "D")
    w, t = _events(rng, idx, p["touch"], fs, full_span)
    parts.append(
        pd.DataFrame(
            {
                "person_id": pid[w],
                "occurred_at": t,
                "channel": np.where(rng.random(len(w)) < 0.35, "wecom_group", "wecom_1v1"),
                "direction": "outbound",
                "scenario": "campaign",
            }
        )
    )
    interactions = pd.concat(parts, ignore_index=True)
    interactions["occurred_at"] = pd.DatetimeIndex(interactions["occurred_at"]).floor("s")
    interactions.insert(0, "interaction_id", [f"i{seed}_{i}" for i in range(len(interactions))])
    for col in ("content_type", "campaign_id", "experiment_id", "variant"):
        interactions[col] = None

    users = pd.DataFrame(
        {
            "person_id": pid,
            "first_seen_at": first_seen.floor("s"),
            "first_channel": rng.choice(["miniprogram", "wecom", "store"], n),
            "registered_at": first_seen.floor("s"),
        }
    )
    persons = pd.DataFrame(
        {
            "person_id": pid,
            "persona": personas,
            "hazard": hazard,
            "churn_at": churn_at,
            "activity": activity,
        }
    )
    return World(users, orders, interactions, persons, start_ts, end_ts)

"""Independent computations of the measurement marts from the core facts, written from the
metric definitions (docs/metrics.md) in plain pandas/Python, never from the SQL: used on the
hand-made fixture (tests/dbt) and on every brand shape's real run (tests/integration)."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict

import pandas as pd

DAY = dt.timedelta(days=1)
TOUCH_CHANNELS = ["wecom_1v1", "wecom_group", "sms"]


class Facts:
    """The fixture frames reduced to Python sets and dicts, following the written definitions."""

    def __init__(self, users, orders, inter):
        self.users = users
        self.first_seen = dict(zip(users.person_id, users.first_seen_date, strict=True))
        self.first_channel = dict(zip(users.person_id, users.first_channel, strict=True))
        # every calendar day from the first to the last day with an order or an interaction,
        # days without any activity included
        observed = set(orders.ordered_date) | set(inter.occurred_date)
        self.start, self.end = min(observed), max(observed)
        self.calendar = [self.start + n * DAY for n in range((self.end - self.start).days + 1)]
        inbound = inter[inter.direction == "inbound"]
        self.active = set(zip(orders.person_id, orders.ordered_date, strict=True)) | set(
            zip(inbound.person_id, inbound.occurred_date, strict=True)
        )
        kept = orders[~orders.is_refunded]
        self.kept = kept
        self.purchase_days = defaultdict(set)
        for p, d in zip(kept.person_id, kept.ordered_date, strict=True):
            self.purchase_days[p].add(d)
        self.touches = inter[inter.direction == "outbound"]

    def cohort_persons(self):
        return [p for p, d in self.first_seen.items() if d >= self.start]

    def first_buy_closed(self, p):
        days = sorted(self.purchase_days.get(p, ()))
        return bool(days) and days[0] + 30 * DAY <= self.end

    def repurchased(self, p):
        days = sorted(self.purchase_days.get(p, ()))
        return len(days) >= 2 and days[1] <= days[0] + 30 * DAY


def ntile(n_rows: int, k: int) -> list[int]:
    """SQL NTILE: the first n % k buckets hold one row more."""
    q, r = divmod(n_rows, k)
    out = []
    for b in range(1, k + 1):
        out += [b] * (q + (1 if b <= r else 0))
    return out


def segment(r: int, f: int) -> str:
    grid = {
        "champions": ("5", "45"),
        "loyal": ("34", "45"),
        "potential_loyalist": ("45", "23"),
        "new": ("5", "1"),
        "promising": ("4", "1"),
        "need_attention": ("3", "3"),
        "about_to_sleep": ("3", "12"),
        "at_risk": ("12", "34"),
        "cant_lose": ("12", "5"),
        "hibernating": ("12", "12"),
    }
    hits = [name for name, (rs, fs) in grid.items() if str(r) in rs and str(f) in fs]
    assert len(hits) == 1, (r, f, hits)
    return hits[0]


def expected_rfm(f: Facts) -> pd.DataFrame:
    rows = []
    kept = f.kept
    for d in f.calendar:
        upto = kept[kept.ordered_date <= d]
        if upto.empty:
            continue
        g = (
            upto.groupby("person_id")
            .agg(
                last=("ordered_date", "max"),
                orders=("order_id", "count"),
                monetary=("amount", "sum"),
                frequency=("ordered_date", "nunique"),
            )
            .reset_index()
        )
        g["monetary"] = g["monetary"].round(2)  # money is exact cents: rank on the cents
        g["recency_days"] = [(d - x).days for x in g["last"]]
        g["as_of_date"] = d
        n = len(g)
        for col, key, asc, k in [
            ("r_score", "recency_days", False, 5),
            ("f_score", "frequency", True, 5),
            ("m_score", "monetary", True, 5),
            ("r3_score", "recency_days", False, 3),
            ("m3_score", "monetary", True, 3),
        ]:
            order = g.sort_values([key, "person_id"], ascending=[asc, True]).index
            g.loc[order, col] = ntile(n, k)
        rows.append(g)
    out = pd.concat(rows, ignore_index=True)
    for c in ["r_score", "f_score", "m_score", "r3_score", "m3_score"]:
        out[c] = out[c].astype(int)
    tiers = {(3, 3): "high_value", (2, 2): "potential", (1, 1): "churned"}
    out["rfm_tier"] = [
        tiers.get((r, m), "other") for r, m in zip(out.r3_score, out.m3_score, strict=True)
    ]
    out["rfm_segment"] = [segment(r, fs) for r, fs in zip(out.r_score, out.f_score, strict=True)]
    return out


def expected_engagement(f: Facts, inter: pd.DataFrame) -> pd.DataFrame:
    inbound = inter[inter.direction == "inbound"]
    t = f.touches
    touched_days = defaultdict(set)
    for p, d in zip(t.person_id, t.occurred_date, strict=True):
        touched_days[p].add(d)
    chats = inter[
        (inter.channel == "wecom_1v1") & (inter.direction == "inbound") & (inter.scenario == "chat")
    ]
    replies = inter[
        (inter.channel == "wecom_1v1")
        & (inter.direction == "outbound")
        & (inter.scenario == "service_reply")
    ]
    watermark = inter.occurred_at.max()
    rows = []
    for d in f.calendar:
        total = sum(1 for x in f.first_seen.values() if x <= d)
        win = inbound[(inbound.occurred_date <= d) & (inbound.occurred_date > d - 30 * DAY)]
        today = t[t.occurred_date == d]
        week = t[(t.occurred_date <= d) & (t.occurred_date > d - 7 * DAY)]
        per_person = week.groupby("person_id").size()
        streak = {
            k: sum(
                1 for days in touched_days.values() if all(d - i * DAY in days for i in range(k))
            )
            for k in (3, 7)
        }
        closed = breaches = 0
        for _, c in chats[chats.occurred_date == d].iterrows():
            deadline = c.occurred_at + pd.Timedelta(hours=2)
            if deadline > watermark:
                continue
            closed += 1
            r = replies[
                (replies.person_id == c.person_id)
                & (replies.occurred_at >= c.occurred_at)
                & (replies.occurred_at <= deadline)
            ]
            breaches += r.empty
        n = len(today)
        shares = {ch: (today.channel == ch).sum() / n if n else math.nan for ch in TOUCH_CHANNELS}
        rows.append(
            {
                "date": d,
                "total_users": total,
                "interacting_users": win.person_id.nunique(),
                "interaction_rate": win.person_id.nunique() / total,
                "touches": n,
                "touched_users": today.person_id.nunique(),
                "touches_7d": len(week),
                "touched_users_7d": len(per_person),
                "touches_per_user_week": len(week) / len(per_person)
                if len(per_person)
                else math.nan,
                "over_3_touches_week_share": (per_person > 3).mean()
                if len(per_person)
                else math.nan,
                "wecom_1v1_share": shares["wecom_1v1"],
                "wecom_group_share": shares["wecom_group"],
                "sms_share": shares["sms"],
                "community_share": shares["wecom_group"],
                "over_touch_3d_users": streak[3],
                "over_touch_3d_share": streak[3] / total,
                "over_touch_7d_users": streak[7],
                "over_touch_7d_share": streak[7] / total,
                "inbound_chats": int((chats.occurred_date == d).sum()),
                "sla_closed_chats": closed,
                "sla_breaches": breaches,
                "sla_2h_breach_rate": breaches / closed if closed else math.nan,
            }
        )
    return pd.DataFrame(rows)


def assert_frames_match(actual: pd.DataFrame, expected: pd.DataFrame, keys: list[str]) -> None:
    cols = list(expected.columns)
    a = actual[cols].sort_values(keys).reset_index(drop=True)
    e = expected[cols].sort_values(keys).reset_index(drop=True)
    assert len(a) == len(e), (len(a), len(e))
    for c in cols:
        if pd.api.types.is_numeric_dtype(e[c]) and not pd.api.types.is_bool_dtype(e[c]):
            pd.testing.assert_series_equal(
                a[c].astype(float),
                e[c].astype(float),
                check_names=False,
                rtol=1e-9,
                atol=1e-9,
                obj=c,
            )
        else:
            assert a[c].fillna("<null>").tolist() == e[c].fillna("<null>").tolist(), c


# ---------------------------------------------------------------- user_rfm


def expected_retention_cohorts(facts: Facts) -> pd.DataFrame:
    """retention_cohorts: for each first-seen day and channel, active persons on day n."""
    sizes = defaultdict(list)
    for p in facts.cohort_persons():
        sizes[(facts.first_seen[p], facts.first_channel[p])].append(p)
    rows = []
    for (c, ch), persons in sizes.items():
        for n in range(31):
            d = c + n * DAY
            if d > facts.end:
                continue
            kept = sum((p, d) in facts.active for p in persons)
            rows.append(
                {
                    "cohort_date": c,
                    "cohort_channel": ch,
                    "day_n": n,
                    "activity_date": d,
                    "cohort_size": len(persons),
                    "retained_users": kept,
                    "retention_rate": kept / len(persons),
                }
            )
    return pd.DataFrame(rows)


def expected_retention_summary(facts: Facts) -> pd.DataFrame:
    """retention_summary: d1/d7/d30 by cohort week and channel, 30-day repurchase."""
    rows = defaultdict(lambda: defaultdict(int))
    for p in facts.cohort_persons():
        c = facts.first_seen[p]
        key = (c - c.weekday() * DAY, facts.first_channel[p])
        r = rows[key]
        r["cohort_users"] += 1
        for n in (1, 7, 30):
            if c + n * DAY <= facts.end:
                r[f"d{n}_cohort_users"] += 1
                r[f"d{n}_retained_users"] += (p, c + n * DAY) in facts.active
        if facts.first_buy_closed(p):
            r["first_time_buyers_30d"] += 1
            r["repurchasers_30d"] += facts.repurchased(p)
    out = []
    for (w, ch), r in rows.items():
        row = {
            "cohort_week": w,
            "cohort_channel": ch,
            "cohort_users": r["cohort_users"],
            "first_time_buyers_30d": r["first_time_buyers_30d"],
            "repurchasers_30d": r["repurchasers_30d"],
            "repurchase_rate_30d": (
                r["repurchasers_30d"] / r["first_time_buyers_30d"]
                if r["first_time_buyers_30d"]
                else math.nan
            ),
        }
        for n in (1, 7, 30):
            den = r[f"d{n}_cohort_users"]
            row[f"d{n}"] = r[f"d{n}_retained_users"] / den if den else math.nan
        out.append(row)
    return pd.DataFrame(out)


# ---------------------------------------------------------------- engagement_by_layer


def expected_engagement_by_layer(
    f: Facts,
    inter: pd.DataFrame,
    rfm: pd.DataFrame,
    segments: dict[str, str],
    targets: list[dict[str, str]],
) -> pd.DataFrame:
    """engagement_by_layer from its written definition: per day, the persons first seen by then
    in each layer (the day's RFM tier, no_purchase without a snapshot; the current segment,
    unscored without one) and those with an inbound interaction in the 30 days ending on the day;
    each layer's target (the kpi_targets row of that layer), meets_target, the mean of its rates on
    the 28 days before and the anomaly flag (the layer row's threshold, else interaction_rate's).
    `rfm` is expected_rfm(f); `targets` the kpi_targets rows as read from the CSV."""
    inbound = inter[inter.direction == "inbound"]
    inbound_days = defaultdict(set)
    for p, d in zip(inbound.person_id, inbound.occurred_date, strict=True):
        inbound_days[p].add(d)

    def interacting(p, d):
        return any(d - k * DAY in inbound_days.get(p, ()) for k in range(30))

    tiers = {(p, d): t for p, d, t in zip(rfm.person_id, rfm.as_of_date, rfm.rfm_tier, strict=True)}
    tier_values = sorted(set(rfm.rfm_tier)) + ["no_purchase"]
    seen = {p: d for p, d in f.first_seen.items() if not pd.isna(d)}
    segment_of = {p: segments.get(p, "unscored") for p in seen}
    segment_values = sorted(set(segment_of.values()))
    rows = []
    for d in f.calendar:
        counts = defaultdict(lambda: [0, 0])
        buyers = {p for (p, day) in tiers if day == d}
        for p in buyers:
            c = counts[("rfm_tier", tiers[(p, d)])]
            c[0] += 1
            c[1] += interacting(p, d)
        for p, first in seen.items():
            if first > d:
                continue
            if p not in buyers:
                c = counts[("rfm_tier", "no_purchase")]
                c[0] += 1
                c[1] += interacting(p, d)
            c = counts[("segment", segment_of[p])]
            c[0] += 1
            c[1] += interacting(p, d)
        for layer_type, values in (("rfm_tier", tier_values), ("segment", segment_values)):
            for value in values:
                persons, active = counts[(layer_type, value)]
                rows.append(
                    {
                        "date": d,
                        "layer_type": layer_type,
                        "layer_value": value,
                        "persons": persons,
                        "interacting_persons": active,
                        "interaction_rate": active / persons if persons else math.nan,
                    }
                )
    out = pd.DataFrame(rows)
    layer_rows = {(t["layer_type"], t["layer_value"]): t for t in targets if t["layer_type"]}
    overall = next(t for t in targets if t["kpi"] == "interaction_rate")
    rate = {(r.date, r.layer_type, r.layer_value): r.interaction_rate for r in out.itertuples()}
    extra = []
    for r in out.itertuples():
        row = layer_rows.get((r.layer_type, r.layer_value))
        previous = [
            rate[(r.date - k * DAY, r.layer_type, r.layer_value)]
            for k in range(1, 29)
            if (r.date - k * DAY, r.layer_type, r.layer_value) in rate
        ]
        previous = [v for v in previous if not math.isnan(v)]
        trailing = sum(previous) / len(previous) if previous else math.nan
        change = (
            (r.interaction_rate - trailing) / trailing
            if previous and trailing and not math.isnan(r.interaction_rate)
            else math.nan
        )
        threshold = float((row or overall)["anomaly_threshold"])
        target = float(row["target"]) if row else math.nan
        extra.append(
            {
                "target_kpi": row["kpi"] if row else None,
                "target": target,
                "meets_target": (
                    None
                    if not row or math.isnan(r.interaction_rate)
                    else bool(r.interaction_rate >= target - 1e-9)
                    if row["direction"] == "higher_is_better"
                    else bool(r.interaction_rate <= target + 1e-9)
                ),
                "trailing_28d": trailing,
                "change_pct": change,
                "is_anomaly": bool(not math.isnan(change) and abs(change) > threshold),
            }
        )
    return pd.concat([out, pd.DataFrame(extra)], axis=1)

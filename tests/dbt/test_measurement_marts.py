"""The measurement marts (dbt) against numbers computed independently in pandas.

One dbt build of the measurement models and seeds runs over hand-made core marts
(tests/dbt/measurement_fixture.py); every mart is then recomputed here from the same fixture
frames with plain pandas/Python, written from the metric definitions (docs/metrics.md), never
from the SQL. A second project state checks that a one-day incremental run equals the full build.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from statistics import NormalDist

import duckdb
import pandas as pd
import pytest

from tests.dbt.measurement_fixture import (
    GAP,
    N_DAYS,
    START,
    build_frames,
    write_fixture_db,
    write_marts_db,
)
from tests.reference_metrics import (
    DAY,
    Facts,
    assert_frames_match,
    expected_engagement,
    expected_engagement_by_layer,
    expected_retention_cohorts,
    expected_retention_summary,
    expected_rfm,
)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DBT_PROJECT = REPO / "dbt_project"
DBT = REPO / ".venv" / "bin" / "dbt"
SEEDS = [
    "rfm_tiers",
    "rfm_segments",
    "kpi_targets",
    "ltv_coefficients",
    "experiment_windows",
    "campaign_costs",
]
MARTS = [
    "user_rfm",
    "retention_cohorts",
    "retention_summary",
    "interaction_retention",
    "engagement_daily",
    "experiment_results",
    "kpi_daily",
    "user_ltv",
    "engagement_by_layer",
]
INCREMENTAL = ["user_rfm", "retention_cohorts", "engagement_daily"]


def read_seed(name: str) -> list[dict[str, str]]:
    with open(DBT_PROJECT / "seeds" / f"{name}.csv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def run_dbt(
    db: Path,
    target: Path,
    select: list[str],
    variables: str | None = None,
    extra_args: tuple[str, ...] = (),
) -> None:
    env = {
        **os.environ,
        "DBT_TARGET_PATH": str(target),
        "SIYU_WAREHOUSE_PATH": str(db),
        "SIYU_DBT_THREADS": "4",
    }
    cmd = [str(DBT), "build", "--profiles-dir", ".", "--select", *select]
    if variables:
        cmd += ["--vars", variables]
    cmd += list(extra_args)
    proc = subprocess.run(cmd, cwd=DBT_PROJECT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


def read_marts(db: Path, tables: list[str]) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        for t in tables:
            df = con.execute(f"select * from marts.{t}").df()
            for col in df.columns:
                if col.endswith("_date") or col in ("date", "cohort_week"):
                    df[col] = pd.to_datetime(df[col]).dt.date
            out[t] = df
        return out
    finally:
        con.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("measurement")
    db = tmp / "warehouse.duckdb"
    users, orders, inter = write_fixture_db(db)
    run_dbt(db, tmp / "target", ["marts.measurement", *SEEDS])
    return {
        "users": users,
        "orders": orders,
        "inter": inter,
        "marts": read_marts(db, MARTS),
        "tmp": tmp,
    }


# ---------------------------------------------------------------- independent expectations


@pytest.fixture(scope="module")
def facts(built):
    return Facts(built["users"], built["orders"], built["inter"])


@pytest.fixture(scope="module")
def rfm_expected(facts):
    return expected_rfm(facts)


@pytest.fixture(scope="module")
def engagement_expected(built, facts):
    return expected_engagement(facts, built["inter"])


def test_user_rfm_matches_pandas(built, rfm_expected):
    cols = [
        "person_id",
        "as_of_date",
        "recency_days",
        "frequency",
        "orders",
        "monetary",
        "r_score",
        "f_score",
        "m_score",
        "r3_score",
        "m3_score",
        "rfm_tier",
        "rfm_segment",
    ]
    assert_frames_match(built["marts"]["user_rfm"], rfm_expected[cols], ["as_of_date", "person_id"])


def test_user_rfm_edge_cases(built, rfm_expected):
    rfm = built["marts"]["user_rfm"].set_index(["person_id", "as_of_date"])
    day2 = START + 2 * DAY
    twice = rfm.loc[("q_twice", day2)]
    assert (twice.frequency, twice.orders, twice.monetary, twice.recency_days) == (1, 2, 200.0, 0)
    # refunded-only until its kept order on day 44
    refund_days = [d for p, d in rfm.index if p == "q_refund"]
    assert min(refund_days) == START + 44 * DAY
    assert rfm.loc[("q_refund2", START + (N_DAYS - 1) * DAY)].monetary == 150.0  # refund excluded
    # a tie at an NTILE boundary exists and is split by person_id
    e = rfm_expected
    split = e.groupby(["as_of_date", "monetary"]).m_score.nunique()
    assert (split > 1).any(), "fixture lost its NTILE boundary tie"
    d, m = split[split > 1].index[0]
    tied = e[(e.as_of_date == d) & (e.monetary == m)].sort_values("person_id")
    got = rfm.loc[[(p, d) for p in tied.person_id]].m_score.tolist()
    assert got == sorted(got) and got[0] < got[-1]
    # recent = 5
    last = e[e.as_of_date == e.as_of_date.max()]
    assert last.loc[last.recency_days.idxmin(), "r_score"] == 5


# ---------------------------------------------------------------- retention


def test_retention_cohorts_match_pandas(built, facts):
    assert_frames_match(
        built["marts"]["retention_cohorts"],
        expected_retention_cohorts(facts),
        ["cohort_date", "cohort_channel", "day_n"],
    )


def test_retention_cohorts_edge_cases(built, facts):
    rc = built["marts"]["retention_cohorts"]
    young = rc[
        (rc.cohort_date == facts.first_seen["q_young"]) & (rc.cohort_channel == "miniprogram")
    ]
    assert young.day_n.max() == 9  # too young for D10..D30: no rows
    assert facts.first_seen["q_old"] not in set(rc.cohort_date)  # pre-history cohort left out
    refund = rc[
        (rc.cohort_date == START + 3 * DAY) & (rc.cohort_channel == "online_mall") & (rc.day_n == 0)
    ]
    assert refund.retained_users.iloc[0] >= 1  # a refunded order is still activity


def test_retention_summary_matches_pandas(built, facts):
    assert_frames_match(
        built["marts"]["retention_summary"],
        expected_retention_summary(facts),
        ["cohort_week", "cohort_channel"],
    )


def test_two_orders_one_day_is_not_a_repurchase(facts):
    assert not facts.repurchased("q_twice")
    assert sorted(facts.purchase_days["q_refund2"])[0] == START + 10 * DAY


# ---------------------------------------------------------------- interaction_retention


def test_interaction_retention_matches_pandas(built, facts):
    eligible = [p for p in facts.cohort_persons() if facts.first_seen[p] + 30 * DAY <= facts.end]
    t = facts.touches
    scenarios = ["all", *sorted(t.scenario.dropna().unique())]
    groups = defaultdict(lambda: defaultdict(float))
    for p in eligible:
        fs = facts.first_seen[p]
        mine = t[(t.person_id == p) & (t.occurred_date >= fs) & (t.occurred_date < fs + 28 * DAY)]
        for s in scenarios:
            n = len(mine) if s == "all" else int((mine.scenario == s).sum())
            bucket = ["0", "1", "2", "3", "4+"][min(math.ceil(n / 4), 4)]
            g = groups[(bucket, s)]
            g["users"] += 1
            g["touches"] += n
            g["retained"] += (p, fs + 30 * DAY) in facts.active
            g["buyers"] += facts.first_buy_closed(p)
            g["repurchasers"] += facts.first_buy_closed(p) and facts.repurchased(p)
    rows = [
        {
            "interaction_frequency_bucket": b,
            "scenario": s,
            "users": g["users"],
            "avg_touches_per_week": g["touches"] / g["users"] / 4,
            "d30_retention": g["retained"] / g["users"],
            "repurchase_rate": g["repurchasers"] / g["buyers"] if g["buyers"] else math.nan,
        }
        for (b, s), g in groups.items()
    ]
    actual = built["marts"]["interaction_retention"]
    assert_frames_match(actual, pd.DataFrame(rows), ["scenario", "interaction_frequency_bucket"])
    # the user without interactions sits in bucket 0 of `all`; the spammer in 4+
    assert "q_silent" in eligible and "q_spam" in eligible
    assert set(actual[actual.scenario == "all"].interaction_frequency_bucket) >= {"0", "4+"}


# ---------------------------------------------------------------- engagement_daily


def test_engagement_daily_matches_pandas(built, engagement_expected):
    assert_frames_match(built["marts"]["engagement_daily"], engagement_expected, ["date"])


def test_engagement_edge_cases(built, engagement_expected):
    e = built["marts"]["engagement_daily"].set_index("date")
    assert e.loc[START + 20 * DAY, "over_touch_7d_users"] >= 1  # q_spam, days 14..20
    last = e.loc[START + (N_DAYS - 1) * DAY]
    assert last.sla_closed_chats == last.inbound_chats - 1  # the 22:00 chat's window is still open
    day40, day41, day42 = (e.loc[START + n * DAY] for n in (40, 41, 42))
    # q_chat: day 40 one answered in 1h and one after 3h; day 41 a campaign send is no reply;
    # day 42 the reply lands exactly 2 hours later (within the SLA)
    assert day40.sla_breaches >= 1 and day41.sla_breaches >= 1
    exp = engagement_expected.set_index("date")
    assert day42.sla_breaches == exp.loc[START + 42 * DAY, "sla_breaches"]


# ---------------------------------------------------------------- engagement_by_layer


def _fixture_segments(db: Path) -> dict[str, str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("select person_id, segment from ml.user_segments").fetchall()
    finally:
        con.close()
    return dict(rows)


def test_engagement_by_layer_matches_pandas(built, facts, rfm_expected):
    actual = built["marts"]["engagement_by_layer"].copy()
    actual["meets_target"] = actual.meets_target.astype(object).where(
        actual.meets_target.notna(), None
    )
    segments = _fixture_segments(built["tmp"] / "warehouse.duckdb")
    expected = expected_engagement_by_layer(
        facts, built["inter"], rfm_expected, segments, read_seed("kpi_targets")
    )
    assert_frames_match(actual, expected, ["date", "layer_type", "layer_value"])
    # the fixture exercises every part of the rule: a layer with a target met and missed, the
    # unscored and no_purchase layers, anomalies
    high_value = actual[actual.layer_value == "high_value"]
    assert set(high_value.target_kpi) == {"high_value_interaction_rate"}
    assert set(high_value.meets_target.dropna()) == {True, False}
    assert {"no_purchase", "unscored"} <= set(actual.layer_value)
    assert actual.is_anomaly.any() and not actual.is_anomaly.all()


def test_engagement_by_layer_adds_up_to_engagement_daily(built):
    layers = built["marts"]["engagement_by_layer"]
    daily = built["marts"]["engagement_daily"].set_index("date")
    sums = layers.groupby(["layer_type", "date"])[["persons", "interacting_persons"]].sum()
    for layer_type in ("rfm_tier", "segment"):
        per_day = sums.loc[layer_type]
        assert (per_day.persons == daily.total_users.reindex(per_day.index)).all(), layer_type
        assert (per_day.interacting_persons == daily.interacting_users.reindex(per_day.index)).all()


# ---------------------------------------------------------------- experiment_results


def test_experiment_results_match_pandas(built):
    inter, orders = built["inter"], built["orders"]
    sends = inter[inter.experiment_id.notna() & (inter.direction == "outbound")]
    first = (
        sends.sort_values(["occurred_at", "interaction_id"])
        .groupby(["experiment_id", "person_id"], as_index=False)
        .first()
    )
    kept = orders[~orders.is_refunded]
    conv = []
    for _, a in first.iterrows():
        mine = kept[
            (kept.person_id == a.person_id)
            & (kept.ordered_at > a.occurred_at)
            & (kept.ordered_at <= a.occurred_at + pd.Timedelta(days=7))
        ]
        conv.append(not mine.empty)
    first["converted"] = conv
    stats = first.groupby("variant").converted.agg(["count", "sum"])
    n0, x0 = stats.loc["control"]
    n1, x1 = stats.loc["treatment"]
    p0, p1 = x0 / n0, x1 / n1
    pooled = (x0 + x1) / (n0 + n1)
    z = (p1 - p0) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    p_value = 2 * (1 - NormalDist().cdf(abs(z)))
    z975 = NormalDist().inv_cdf(0.975)
    r = built["marts"]["experiment_results"].set_index("variant")
    assert (r.loc["control", "users"], r.loc["control", "conversions"]) == (n0, x0)
    assert (r.loc["treatment", "users"], r.loc["treatment", "conversions"]) == (n1, x1)
    t = r.loc["treatment"]
    assert t.lift_vs_control == pytest.approx(p1 - p0, abs=1e-12)
    assert t.ci_low == pytest.approx(p1 - p0 - z975 * se, abs=1e-9)
    assert t.ci_high == pytest.approx(p1 - p0 + z975 * se, abs=1e-9)
    assert t.p_value == pytest.approx(p_value, abs=1e-6)  # A&S approximation, error < 1.5e-7
    assert pd.isna(r.loc["control", "p_value"])
    # hand-made cases: first variant wins, refunded and pre-send orders do not count,
    # the window is 7 days
    a = first.set_index("person_id")
    assert a.loc["q_twice", "variant"] == "treatment" and a.loc["q_twice", "converted"]
    assert not a.loc["q_refund", "converted"] and not a.loc["q_chat", "converted"]


# ---------------------------------------------------------------- user_ltv


def test_user_ltv_matches_pandas(built, facts):
    seed = read_seed("ltv_coefficients")
    weight = sum(
        float(s["conversion_rate"]) * float(s["stage_months"]) * float(s["retention_coefficient"])
        for s in seed
    )
    kept = facts.kept.groupby("person_id").amount.agg(["sum", "count"])
    rows = []
    for p, fs in facts.first_seen.items():
        tenure = max((facts.end - fs).days + 1, 30.4375) / 30.4375
        if p in kept.index:
            aov = kept.loc[p, "sum"] / kept.loc[p, "count"]
            ltv = sum(
                float(s["conversion_rate"])
                * aov
                * (kept.loc[p, "count"] / tenure)
                * float(s["stage_months"])
                * float(s["retention_coefficient"])
                for s in seed
            )
        else:
            ltv = 0.0
        rows.append({"person_id": p, "tenure_months": tenure, "ltv_formula": ltv})
    expected = pd.DataFrame(rows)
    actual = built["marts"]["user_ltv"]
    assert_frames_match(actual, expected[["person_id", "tenure_months"]], ["person_id"])
    # money is rounded to the cent: within half a cent of the exact formula, and whole cents
    got = actual.set_index("person_id").ltv_formula.astype(float)
    want = expected.set_index("person_id").ltv_formula.loc[got.index]
    assert (got - want).abs().max() <= 0.005 + 1e-9
    assert ((got * 100).round() - got * 100).abs().max() < 1e-6
    assert weight == pytest.approx(actual.weighted_stage_months.iloc[0])


# ---------------------------------------------------------------- kpi_daily


def test_kpi_daily_matches_pandas(built, facts, rfm_expected, engagement_expected):
    # the targets of a user layer are engagement_by_layer's, not KPIs of kpi_daily
    targets = {r["kpi"]: r for r in read_seed("kpi_targets") if not r["layer_type"]}
    values = {}
    eng = engagement_expected.set_index("date")
    cohort = [p for p in facts.cohort_persons()]
    hv = rfm_expected.groupby("as_of_date").rfm_tier.apply(lambda s: (s == "high_value").mean())
    buyers_first = {p: min(ds) for p, ds in facts.purchase_days.items()}
    for d in facts.calendar:
        for k in [
            "interaction_rate",
            "community_share",
            "over_touch_3d_share",
            "over_touch_7d_share",
            "sla_2h_breach_rate",
            "touches_per_user_week",
        ]:
            values[(d, k)] = eng.loc[d, k]
        for n, k in [(1, "next_day_retention"), (7, "d7_retention")]:
            members = [p for p in cohort if d - (n + 6) * DAY <= facts.first_seen[p] <= d - n * DAY]
            values[(d, k)] = (
                (
                    sum((p, facts.first_seen[p] + n * DAY) in facts.active for p in members)
                    / len(members)
                )
                if members
                else math.nan
            )
        firsts = [p for p, f0 in buyers_first.items() if d - 59 * DAY <= f0 <= d - 30 * DAY]
        values[(d, "repurchase_rate_30d")] = (
            sum(facts.repurchased(p) for p in firsts) / len(firsts) if firsts else math.nan
        )
        before = {p for p, a in facts.active if d - 59 * DAY <= a <= d - 30 * DAY}
        recent = {p for p, a in facts.active if d - 29 * DAY <= a <= d}
        values[(d, "churn_rate")] = (
            len(before - recent) / len(before)
            if before and d - 59 * DAY >= facts.start
            else math.nan
        )
        values[(d, "high_value_share")] = hv.get(d, math.nan)
    rows = []
    for (d, k), v in values.items():
        t = targets[k]
        target, band = float(t["target"]), float(t["amber_band"])
        good = 1 if t["direction"] == "higher_is_better" else -1
        if pd.isna(v):
            status = None
        elif good * (v - target) >= -1e-9:
            status = "green"
        elif good * (v - target) >= -band - 1e-9:
            status = "amber"
        else:
            status = "red"
        prev = [
            values[(x, k)]
            for x in facts.calendar
            if d - 28 * DAY <= x < d and not pd.isna(values[(x, k)])
        ]
        trailing = sum(prev) / len(prev) if prev else math.nan
        change = (v - trailing) / trailing if trailing and not pd.isna(trailing) else math.nan
        anomaly = (
            bool(abs(change) > float(t["anomaly_threshold"])) if not pd.isna(change) else False
        )
        rows.append(
            {
                "date": d,
                "kpi": k,
                "value": v,
                "target": target,
                "status": status,
                "trailing_28d": trailing,
                "change_pct": change,
                "is_anomaly": anomaly,
            }
        )
    expected = pd.DataFrame(rows)
    # a KPI not measurable yet on a date (too little history) has no row that day
    expected = expected[expected["value"].notna()].reset_index(drop=True)
    actual = built["marts"]["kpi_daily"].copy()
    actual["status"] = actual.status.where(actual.status.notna(), None)
    assert_frames_match(actual, expected, ["date", "kpi"])
    assert set(actual.kpi) == set(targets)
    assert (
        actual.is_anomaly.any()
        and (actual.status == "red").any()
        and (actual.status == "green").any()
    )


# ---------------------------------------------------------------- incremental


def test_one_day_incremental_run_equals_full_build(built):
    tmp = built["tmp"]
    db = tmp / "incremental.duckdb"
    write_fixture_db(db)
    day40, day41 = START + 40 * DAY, START + 41 * DAY
    select = [*INCREMENTAL, "rfm_tiers", "rfm_segments"]
    run_dbt(db, tmp / "target_inc", select, f'{{"max_date": "{day40}"}}')
    before = read_marts(db, INCREMENTAL)
    assert before["engagement_daily"].date.max() < day40
    run_dbt(db, tmp / "target_inc", select, f'{{"min_date": "{day40}", "max_date": "{day41}"}}')
    after = read_marts(db, INCREMENTAL)
    full = built["marts"]
    for table, key in [
        ("user_rfm", "as_of_date"),
        ("retention_cohorts", "activity_date"),
        ("engagement_daily", "date"),
    ]:
        want = full[table][full[table][key] <= day40]
        got = after[table]
        assert got[key].max() == day40
        assert_frames_match(
            got,
            want,
            [
                c
                for c in [key, "person_id", "cohort_date", "cohort_channel", "day_n"]
                if c in want.columns
            ],
        )
    shutil.rmtree(tmp / "target_inc", ignore_errors=True)


# ---------------------------------------------------------------- days without any activity


def test_daily_marts_have_a_row_for_every_day_of_the_loaded_range(built, facts):
    gap = [START + n * DAY for n in sorted(GAP)]
    active_dates = set(built["orders"].ordered_date) | set(built["inter"].occurred_date)
    assert not set(gap) & active_dates and facts.start < gap[0] and gap[-1] < facts.end
    marts = built["marts"]
    assert sorted(marts["engagement_daily"].date) == facts.calendar
    assert sorted(set(marts["kpi_daily"].date)) == facts.calendar
    first_purchase = min(facts.kept.ordered_date)
    assert sorted(set(marts["user_rfm"].as_of_date)) == [
        d for d in facts.calendar if d >= first_purchase
    ]
    # through the gap every buyer stays in the snapshot and recency grows by a day a day
    rfm = marts["user_rfm"].set_index(["person_id", "as_of_date"]).recency_days
    before = rfm.xs(gap[0] - DAY, level="as_of_date")
    after = rfm.xs(gap[-1] + DAY, level="as_of_date")
    assert len(before) > 0
    assert (after.loc[before.index] - before).isin([len(gap) + 1]).sum() >= 1
    assert set(before.index) <= set(after.index)
    eng = marts["engagement_daily"].set_index("date")
    assert (eng.loc[gap, "touches"] == 0).all() and (eng.loc[gap, "total_users"] > 0).all()


def test_incremental_runs_over_days_without_activity_equal_a_full_build(built):
    """Partitions 55..57 land no row at all (one run over the three days), then day 58 lands.
    Facts hold what was loaded by then; the result equals a full build of the same facts."""
    tmp = built["tmp"]
    users, orders, inter = build_frames()
    first_gap, last_gap = START + min(GAP) * DAY, START + max(GAP) * DAY
    day_after = last_gap + DAY

    def load_through(db, day):
        write_marts_db(
            db, users, orders[orders.ordered_date <= day], inter[inter.occurred_date <= day]
        )

    select = [*INCREMENTAL, "rfm_tiers", "rfm_segments"]
    db = tmp / "gap_incremental.duckdb"
    load_through(db, first_gap - DAY)
    run_dbt(db, tmp / "target_gap", select, f'{{"max_date": "{first_gap}"}}')
    load_through(db, last_gap)
    run_dbt(
        db, tmp / "target_gap", select, f'{{"min_date": "{first_gap}", "max_date": "{day_after}"}}'
    )
    load_through(db, day_after)
    run_dbt(
        db,
        tmp / "target_gap",
        select,
        f'{{"min_date": "{day_after}", "max_date": "{day_after + DAY}"}}',
    )
    got = read_marts(db, INCREMENTAL)

    full_db = tmp / "gap_full.duckdb"
    load_through(full_db, day_after)
    run_dbt(full_db, tmp / "target_gap_full", select)
    want = read_marts(full_db, INCREMENTAL)
    for table, key in [
        ("user_rfm", "as_of_date"),
        ("retention_cohorts", "activity_date"),
        ("engagement_daily", "date"),
    ]:
        assert {first_gap, last_gap, day_after} <= set(got[table][key]), table
        assert_frames_match(
            got[table],
            want[table],
            [
                c
                for c in [key, "person_id", "cohort_date", "cohort_channel", "day_n"]
                if c in want[table].columns
            ],
        )
    shutil.rmtree(tmp / "target_gap", ignore_errors=True)
    shutil.rmtree(tmp / "target_gap_full", ignore_errors=True)

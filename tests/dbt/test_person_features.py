"""The dbt person features (intermediate.int_models__person_features) equal the pandas reference.

One real dbt build of the model runs over marts written from the synthetic world of
tests/ml/siyu_synthetic.py (four personas, churn, refunds, coupons, outbound touches) plus
hand-written persons on the edges of every rule: a fact exactly at the cutoff and a microsecond
before it, an order exactly N days before the cutoff (inside the window) and a microsecond earlier,
refunded-only buyers, zero and missing discounts, missing flags, facts before first_seen_at, a
person first seen exactly at the cutoff, a fact of a person not in dim_users. Every snapshot row
is then compared with ml.features.build_features and ml.churn.churn_labels on the same marts, to
1e-9, for every feature column; and the comparison is shown to fail on a shifted cutoff.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml.churn import LABEL, churn_labels, training_snapshots
from ml.features import FEATURE_NAMES, build_features
from tests.ml.siyu_synthetic import make_world
from warehouse.bounds import data_end
from warehouse.features import read_facts, read_person_features

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DBT_PROJECT = REPO / "dbt_project"
DBT = REPO / ".venv" / "bin" / "dbt"
MODEL = "int_models__person_features"
# the feature model and the models between it and the marts written here
BUILT_MODELS = ["int_models__person_days", "int_models__feature_snapshots", MODEL]
START = "2025-01-01"
# the run's window end: the scoring cutoff, inside the data and not a month start
WINDOW_END = "2025-05-17"
TOLERANCE = 1e-9

ORDER_TYPES = {
    "order_id": "varchar",
    "person_id": "varchar",
    "channel": "varchar",
    "ordered_at": "timestamp",
    "amount": "decimal(18, 2)",
    "discount_amount": "decimal(18, 2)",
    "coupon_used": "boolean",
    "is_refunded": "boolean",
    "ordered_date": "date",
}
INTERACTION_TYPES = {
    "interaction_id": "varchar",
    "person_id": "varchar",
    "occurred_at": "timestamp",
    "channel": "varchar",
    "direction": "varchar",
    "scenario": "varchar",
    "content_type": "varchar",
    "campaign_id": "varchar",
    "occurred_date": "date",
}
USER_TYPES = {
    "person_id": "varchar",
    "first_seen_at": "timestamp",
    "first_channel": "varchar",
    "registered_at": "timestamp",
}


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def edge_facts() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Hand-written persons on the rules' edges (cutoff 2025-04-01 unless said)."""
    users = pd.DataFrame(
        [
            ("e_cut", ts("2025-01-05 08:00"), ts("2025-01-05 08:00")),
            ("e_micro", ts("2025-01-05 08:00:00.000001"), pd.NaT),  # never registered
            ("e_window", ts("2025-01-02"), ts("2025-06-01")),  # registered after some cutoffs
            ("e_refund", ts("2025-02-10 12:00"), ts("2025-02-10 12:00")),
            ("e_zero", ts("2025-02-11 12:00"), ts("2025-02-11 12:00")),
            ("e_before", ts("2025-03-20 12:00"), ts("2025-03-20 12:00")),  # facts before this
            ("e_at_cutoff", ts("2025-04-01 00:00"), ts("2025-04-01 00:00")),
            ("e_quiet", ts("2025-01-20 10:00"), ts("2025-01-20 10:00")),  # never does anything
        ],
        columns=["person_id", "first_seen_at", "registered_at"],
    ).assign(first_channel="miniprogram")

    def order(pid, at, amount, discount=0.0, coupon=False, refunded=False):
        return (pid, ts(at), amount, discount, coupon, refunded)

    orders = pd.DataFrame(
        [
            order("e_cut", "2025-04-01 00:00:00", 100.0),  # at the cutoff: out
            order("e_micro", "2025-03-31 23:59:59.999999", 50.0, 5.0, True),  # a µs before: in
            order("e_window", "2025-03-02 00:00:00", 30.0),  # exactly 30 days before 04-01: in
            order("e_window", "2025-03-01 23:59:59.999999", 31.0, 1.0),  # 30 days + 1 µs: out
            order("e_window", "2024-04-01 00:00:00", 20.0),  # exactly 365 days before 2025-04-01
            order("e_window", "2024-03-31 23:59:59", 21.0),
            order("e_refund", "2025-03-15 10:00", 80.0, refunded=True),
            order("e_refund", "2025-05-15 10:00", 90.0, 10.0, refunded=True),
            order("e_zero", "2025-03-10 10:00", 0.0, 0.0),  # gross 0: depth 0
            order("e_zero", "2025-03-11 10:00", 40.0, None, None, None),  # missing flags
            order("e_before", "2025-03-01 10:00", 60.0, 6.0),  # before first_seen_at
            order("ghost", "2025-03-01 10:00", 60.0),  # not in dim_users
        ],
        columns=[
            "person_id",
            "ordered_at",
            "amount",
            "discount_amount",
            "coupon_used",
            "is_refunded",
        ],
    )
    orders.insert(0, "order_id", [f"e{i}" for i in range(len(orders))])
    orders.insert(2, "channel", "online_mall")

    def event(pid, at, channel="miniprogram", direction="inbound", scenario="share"):
        return (pid, ts(at), channel, direction, scenario)

    interactions = pd.DataFrame(
        [
            event("e_cut", "2025-04-01 00:00:00"),
            event("e_cut", "2025-03-25 00:00:00", scenario="page_view"),  # exactly 7 days
            event("e_cut", "2025-03-24 23:59:59", scenario="page_view"),
            event("e_micro", "2025-03-31 23:59:59.999999", scenario="coupon_claim"),
            event("e_micro", "2025-03-31 23:00:00", "wecom_group", "outbound", "campaign"),
            event("e_micro", "2025-03-04 00:00:00", "wecom_1v1", "outbound", "campaign"),  # 28d
            event("e_micro", "2025-03-03 23:59:59", "wecom_1v1", "outbound", "campaign"),
            event("e_window", "2025-01-01 00:00:00", "wecom_1v1", "inbound", "chat"),  # 90 days
            event("e_window", "2024-12-31 23:59:59", "wecom_1v1", "inbound", "chat"),
            event("e_window", "2025-03-20 09:00", scenario=None),  # no scenario
            event("e_window", "2025-03-20 10:00", scenario="review"),
            event("e_window", "2025-03-20 11:00", scenario="task_complete"),
            event("e_window", "2025-03-21 11:00", scenario="add_to_cart"),
            event("e_before", "2025-03-10 10:00", scenario="share"),  # before first_seen_at
            event("e_refund", "2025-04-05 10:00", "wecom_1v1", "outbound", "campaign"),
            event("ghost", "2025-03-01 10:00"),
        ],
        columns=["person_id", "occurred_at", "channel", "direction", "scenario"],
    )
    interactions.insert(0, "interaction_id", [f"ei{i}" for i in range(len(interactions))])
    interactions["content_type"] = None
    interactions["campaign_id"] = None
    return users, orders, interactions


def write_marts(path: Path) -> None:
    world = make_world(40, start=START, days=200, seed=11, onboarding_days=100)
    e_users, e_orders, e_interactions = edge_facts()
    frames = {
        "dim_users": (pd.concat([world.users, e_users], ignore_index=True), USER_TYPES),
        "fct_orders": (
            pd.concat([world.orders, e_orders], ignore_index=True).assign(
                ordered_date=lambda f: f["ordered_at"].dt.date
            ),
            ORDER_TYPES,
        ),
        "fct_interactions": (
            pd.concat([world.interactions, e_interactions], ignore_index=True).assign(
                occurred_date=lambda f: f["occurred_at"].dt.date
            ),
            INTERACTION_TYPES,
        ),
    }
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts")
        for name, (frame, types) in frames.items():
            con.execute(
                f"create table marts.{name} ({', '.join(f'{c} {t}' for c, t in types.items())})"
            )
            con.register("_frame", frame)
            con.execute(f"insert into marts.{name} select {', '.join(types)} from _frame")
            con.unregister("_frame")


def run_dbt(db: Path, target: Path, window_end: str | None, *args: str) -> None:
    env = {
        **os.environ,
        "DBT_TARGET_PATH": str(target),
        "SIYU_WAREHOUSE_PATH": str(db),
        "SIYU_DBT_THREADS": "2",
    }
    env.pop("SIYU_DBT_WINDOW_START", None)
    env.pop("SIYU_DBT_WINDOW_END", None)
    if window_end:
        env["SIYU_DBT_WINDOW_START"] = "1900-01-01"
        env["SIYU_DBT_WINDOW_END"] = window_end
    proc = subprocess.run(
        [str(DBT), "build", "--profiles-dir", ".", "--select", *BUILT_MODELS, *args],
        cwd=DBT_PROJECT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("person_features")
    db = tmp / "warehouse.duckdb"
    write_marts(db)
    run_dbt(db, tmp / "target", WINDOW_END)
    with duckdb.connect(str(db), read_only=True) as con:
        table = con.execute(f"select * from intermediate.{MODEL}").df()
        orders, interactions, users = read_facts(con)
        end = data_end(con)
    return {"db": db, "table": table, "facts": (orders, interactions, users), "data_end": end}


def sql_features(built, snapshot: pd.Timestamp) -> pd.DataFrame:
    table = built["table"]
    rows = table[pd.to_datetime(table["snapshot_date"]) == snapshot]
    return rows.set_index("person_id").sort_index()


def assert_features_equal(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same persons in the same order and every feature column equal to TOLERANCE."""
    assert list(got.index) == list(expected.index)
    for column in FEATURE_NAMES:
        np.testing.assert_allclose(
            got[column].to_numpy(dtype=float),
            expected[column].to_numpy(dtype=float),
            rtol=TOLERANCE,
            atol=TOLERANCE,
            err_msg=column,
        )


def snapshots_of(built) -> list[pd.Timestamp]:
    return sorted(pd.to_datetime(built["table"]["snapshot_date"]).unique())


def test_snapshots_are_the_month_starts_the_data_end_and_the_scoring_cutoff(built):
    """Every month start in the loaded data (the monthly trainings' cutoffs; the churn training
    snapshots are those with a complete window), the data end and the scoring cutoff."""
    users = built["facts"][2]
    end = built["data_end"]
    first_seen = users["first_seen_at"].min()
    training = training_snapshots(first_seen, end)
    month_starts = training_snapshots(first_seen, end, horizon_days=0)
    expected = sorted({*month_starts, end, pd.Timestamp(WINDOW_END)})
    assert snapshots_of(built) == expected
    # the data end is a month start's month plus days: one month start has an incomplete window
    assert len(training) >= 3 and len(month_starts) == len(training) + 1
    assert len(expected) == len(month_starts) + 2
    complete = built["table"].groupby("snapshot_date")["has_complete_churn_window"].all()
    complete_month_starts = [s for s in pd.to_datetime(complete[complete].index) if s.day == 1]
    assert sorted(complete_month_starts) == training


def test_every_feature_equals_build_features_at_every_snapshot(built):
    orders, interactions, users = built["facts"]
    for snapshot in snapshots_of(built):
        expected = build_features(orders, interactions, users, snapshot)
        assert len(expected) > 0
        assert_features_equal(sql_features(built, snapshot), expected)


def test_labels_equal_churn_labels_where_the_window_is_complete(built):
    orders, interactions, users = built["facts"]
    complete = 0
    for snapshot in snapshots_of(built):
        got = sql_features(built, snapshot)
        expected = churn_labels(orders, interactions, users, snapshot, data_end=built["data_end"])
        if expected.empty:
            assert not got["has_complete_churn_window"].any()
            assert got[LABEL].isna().all()
            continue
        complete += 1
        assert got["has_complete_churn_window"].all()
        assert list(got.index) == list(expected.index)
        assert (got[LABEL].astype(int).to_numpy() == expected.to_numpy()).all()
        assert expected.nunique() == 2  # churned and active persons both
    assert complete >= 3


def test_edge_persons_take_the_rules_of_the_reference(built):
    got = sql_features(built, pd.Timestamp("2025-04-01"))
    assert "e_at_cutoff" not in got.index and "ghost" not in got.index
    assert got.loc["e_cut", "frequency_365d"] == 0 and got.loc["e_cut", "shares_90d"] == 0
    assert got.loc["e_cut", "inbound_7d"] == 1  # exactly 7 days before is inside
    assert got.loc["e_micro", "orders_30d"] == 1 and got.loc["e_micro", "is_registered"] == 0
    assert got.loc["e_micro", "recency_days"] == pytest.approx(1 / 86_400_000_000, rel=1e-6)
    assert got.loc["e_window", "orders_30d"] == 1 and got.loc["e_window", "frequency_365d"] == 3
    assert got.loc["e_window", "wecom_1v1_inbound_90d"] == 1
    assert got.loc["e_refund", "recency_days"] == 730.0
    assert got.loc["e_refund", "refund_share_365d"] == 1.0
    assert got.loc["e_before", "active_span_days"] == 0.0


def test_the_comparison_fails_on_a_shifted_cutoff_or_a_changed_feature(built):
    orders, interactions, users = built["facts"]
    snapshot = pd.Timestamp("2025-04-01")
    got = sql_features(built, snapshot)
    shifted = build_features(orders, interactions, users, snapshot + pd.Timedelta(days=1))
    with pytest.raises(AssertionError):
        assert_features_equal(got, shifted.reindex(got.index))
    for column in FEATURE_NAMES:
        changed = got.copy()
        changed.iloc[0, changed.columns.get_loc(column)] += 1e-6
        with pytest.raises(AssertionError, match=column):
            assert_features_equal(changed, build_features(orders, interactions, users, snapshot))


def test_read_person_features_returns_the_frames_of_build_features(built):
    orders, interactions, users = built["facts"]
    snapshots = snapshots_of(built)[:2]
    with duckdb.connect(str(built["db"]), read_only=True) as con:
        frame = read_person_features(con, snapshots)
    assert frame.index.names == ["snapshot_date", "person_id"]
    assert list(frame.columns) == [*FEATURE_NAMES, LABEL]
    for snapshot in snapshots:
        one = frame.xs(snapshot, level="snapshot_date")
        expected = build_features(orders, interactions, users, snapshot)
        assert_features_equal(one, expected)
        assert (one.dtypes[FEATURE_NAMES] == "float64").all()


# An incremental run: the first build saw the facts before LOADED_UNTIL, the second all of them,
# after one person was erased and one merged into another (facts before the first build's
# training snapshots move to the survivor); it equals a first build on the final marts.
LOADED_UNTIL = "2025-05-20"
ERASED = "e_window"
MERGED, SURVIVOR = "e_micro", "e_cut"


def erase_person(con: duckdb.DuckDBPyConnection, person_id: str) -> None:
    for table in ("dim_users", "fct_orders", "fct_interactions"):
        con.execute(f"delete from marts.{table} where person_id = ?", [person_id])


def merge_person(con: duckdb.DuckDBPyConnection, gone: str, survivor: str) -> None:
    for table in ("fct_orders", "fct_interactions"):
        con.execute(f"update marts.{table} set person_id = ? where person_id = ?", [survivor, gone])
    con.execute("delete from marts.dim_users where person_id = ?", [gone])


def change_identities(con: duckdb.DuckDBPyConnection) -> None:
    erase_person(con, ERASED)
    merge_person(con, MERGED, SURVIVOR)


def feature_table(db: Path) -> pd.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        frame = con.execute(f"select * from intermediate.{MODEL}").df()
    return frame.sort_values(["snapshot_date", "person_id"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def incremental(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("person_features_incremental")
    db, full_db = tmp / "incremental.duckdb", tmp / "full.duckdb"
    write_marts(db)
    with duckdb.connect(str(db)) as con:
        for table, column in (
            ("fct_orders", "ordered_date"),
            ("fct_interactions", "occurred_date"),
        ):
            con.execute(
                f"create table later_{table} as select * from marts.{table} where {column} >= ?",
                [LOADED_UNTIL],
            )
            con.execute(f"delete from marts.{table} where {column} >= ?", [LOADED_UNTIL])
    run_dbt(db, tmp / "target", "2025-05-10")
    first = feature_table(db)
    with duckdb.connect(str(db)) as con:
        for table in ("fct_orders", "fct_interactions"):
            con.execute(f"insert into marts.{table} select * from later_{table}")
            con.execute(f"drop table later_{table}")
        change_identities(con)
    run_dbt(db, tmp / "target", WINDOW_END)
    write_marts(full_db)
    with duckdb.connect(str(full_db)) as con:
        change_identities(con)
    run_dbt(full_db, tmp / "target_full", WINDOW_END)
    return {"first": first, "incremental": feature_table(db), "full": feature_table(full_db)}


def test_an_incremental_run_equals_a_first_build_on_the_same_marts(incremental):
    first, got, full = incremental["first"], incremental["incremental"], incremental["full"]
    first_snapshots = set(pd.to_datetime(first["snapshot_date"]))
    # the first build had three training snapshots and its own scoring cutoff and data end
    assert pd.Timestamp("2025-05-10") in first_snapshots
    assert pd.Timestamp("2025-06-01") not in first_snapshots
    # its latest month start had no complete churn window yet; the second run completed it
    may = pd.Timestamp("2025-05-01")
    first_may = first[pd.to_datetime(first["snapshot_date"]) == may]
    got_may = got[pd.to_datetime(got["snapshot_date"]) == may]
    assert len(first_may) and not first_may["has_complete_churn_window"].any()
    assert first_may["churned"].isna().all()
    assert got_may["has_complete_churn_window"].all() and got_may["churned"].notna().all()
    assert ERASED in set(first["person_id"])
    # the second kept the training snapshots, added two, replaced the scoring ones
    assert sorted(set(pd.to_datetime(got["snapshot_date"]))) == sorted(
        set(pd.to_datetime(full["snapshot_date"]))
    )
    assert pd.Timestamp("2025-05-10") not in set(pd.to_datetime(got["snapshot_date"]))
    assert ERASED not in set(got["person_id"]) and MERGED not in set(got["person_id"])
    # the merge changed the survivor's features at a training snapshot of the first build
    april = pd.Timestamp("2025-04-01")
    before = first[
        (pd.to_datetime(first["snapshot_date"]) == april) & (first["person_id"] == SURVIVOR)
    ]
    after = got[(pd.to_datetime(got["snapshot_date"]) == april) & (got["person_id"] == SURVIVOR)]
    assert before["orders_30d"].item() == 0 and after["orders_30d"].item() == 1
    pd.testing.assert_frame_equal(got, full, check_exact=False, rtol=TOLERANCE, atol=TOLERANCE)


def test_training_snapshots_keep_a_deterministic_sample_and_scoring_every_person(tmp_path):
    db = tmp_path / "sampled.duckdb"
    write_marts(db)
    run_dbt(
        db, tmp_path / "target", WINDOW_END, "--vars", "{churn_training_persons_per_snapshot: 12}"
    )
    table = feature_table(db)
    with duckdb.connect(str(db), read_only=True) as con:
        persons = con.execute("select count(*) from marts.dim_users").fetchone()[0]
        threshold = int(np.ceil(1000 * 12 / persons))
        sampled = set(
            con.execute(
                "select person_id from marts.dim_users where cast(hash(person_id) % 1000 as integer) < ?",
                [threshold],
            ).df()["person_id"]
        )
        orders, interactions, users = read_facts(con)
        end = data_end(con)
    assert 0 < len(sampled) < persons
    month_starts = training_snapshots(users["first_seen_at"].min(), end, horizon_days=0)
    for snapshot in sorted(set(pd.to_datetime(table["snapshot_date"]))):
        got = table[pd.to_datetime(table["snapshot_date"]) == snapshot].set_index("person_id")
        expected = build_features(orders, interactions, users, snapshot)
        if snapshot in month_starts and snapshot != pd.Timestamp(WINDOW_END):
            assert set(got.index) == sampled & set(expected.index)
            expected = expected.loc[sorted(got.index)]
        assert_features_equal(got.sort_index(), expected)

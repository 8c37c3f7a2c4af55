"""The model assets on real Dagster runs over a real DuckDB build database.

Each test writes the three facts the models read (marts.dim_users, marts.fct_orders,
marts.fct_interactions) from the synthetic world of tests/ml/siyu_synthetic.py into a DuckDB file,
then materialises the training assets (monthly partition) and the scoring assets with
`dg.materialize` and the resources the code location uses. The brand shapes: 30 days of history,
more than a year, no interactions at all (a CRM-only brand), a handful of persons.

The model assets read the person features dbt computes from those facts
(intermediate.int_models__person_features): `write_marts` builds that table, and the person days
and snapshots it reads, with a real dbt run over the written marts (tests/dbt/test_person_features.py
proves the model equal to ml.features.build_features).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from ml.segmentation import SEGMENT_VALUES
from orchestration.defs.models import (
    CHURN,
    CHURN_MODEL_KEY,
    PROMOTION_CHECK,
    SEGMENTATION,
    build_scoring_assets,
    build_training_assets,
)
from orchestration.lib.partitions import monthly_partitions
from orchestration.lib.resources import SiyuSettingsResource, WarehouseResource
from orchestration.lib.settings import REPO_ROOT
from tests.conftest import make_settings
from tests.ml.siyu_synthetic import World, make_world
from warehouse.model_registry import ModelRegistry

pytestmark = pytest.mark.slow

START = "2025-01-01"


# the feature model and the models between it and the marts the tests write
FEATURE_MODELS = [
    "int_models__person_days",
    "int_models__feature_snapshots",
    "int_models__person_features",
]


def build_person_features(path: Path) -> None:
    """(Re)build the person features from the marts in `path` with a real dbt run of the feature
    models, as the daily job's dbt step does without a run window (the scoring cutoff is the end
    of the loaded data)."""
    env = {
        **os.environ,
        "SIYU_WAREHOUSE_PATH": str(path),
        "DBT_TARGET_PATH": str(path.parent / "dbt_target"),
        "SIYU_DBT_THREADS": "2",
    }
    env.pop("SIYU_DBT_WINDOW_START", None)
    env.pop("SIYU_DBT_WINDOW_END", None)
    proc = subprocess.run(
        [
            str(REPO_ROOT / ".venv" / "bin" / "dbt"),
            "run",
            "--profiles-dir",
            ".",
            "--full-refresh",
            "--select",
            *FEATURE_MODELS,
        ],
        cwd=REPO_ROOT / "dbt_project",
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


def write_marts(path: Path, world: World) -> None:
    """The facts of `world` as the marts the model assets read, in a DuckDB file, and the person
    features dbt builds from them."""
    orders = world.orders.assign(ordered_date=world.orders["ordered_at"].dt.date)
    interactions = world.interactions.assign(
        occurred_date=world.interactions["occurred_at"].dt.date
    )
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts")
        for name, frame in (
            ("dim_users", world.users),
            ("fct_orders", orders),
            ("fct_interactions", interactions),
        ):
            con.register("_frame", frame)
            con.execute(f"create or replace table marts.{name} as select * from _frame")
            con.unregister("_frame")
        # typed like the dbt models even when a frame is empty (a brand without interactions)
        con.execute(
            "alter table marts.fct_interactions alter occurred_at type timestamp; "
            "alter table marts.fct_interactions alter occurred_date type date; "
            "alter table marts.fct_orders alter ordered_at type timestamp; "
            "alter table marts.fct_orders alter ordered_date type date"
        )
    build_person_features(path)


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, SIYU_START_DATE=START)


def resources(settings) -> dict:
    return {
        "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
        "siyu": SiyuSettingsResource(**settings.as_strings()),
    }


def train(settings, month: str) -> dg.ExecuteInProcessResult:
    """The monthly_models job's assets for one month partition."""
    assets = build_training_assets(monthly_partitions(settings.start_date))
    return dg.materialize(
        assets, partition_key=month, resources=resources(settings), raise_on_error=False
    )


def score(settings, *names: str) -> dg.ExecuteInProcessResult:
    """Daily scoring assets by table name (all four by default)."""
    assets = [a for a in build_scoring_assets() if not names or a.key.path[-1] in names]
    return dg.materialize(assets, resources=resources(settings), raise_on_error=False)


def metadata(result: dg.ExecuteInProcessResult, key: list[str]) -> dict:
    (event,) = [
        e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(key)
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def read(settings, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql).df()


def column_types(settings, table: str) -> dict[str, str]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return dict(
            con.execute(f"select column_name, column_type from (describe {table})").fetchall()
        )


# --------------------------------------------------------------------------------------------
# registration forecast


def test_registration_forecast_history_includes_the_last_loaded_day(settings):
    world = make_world(20, start=START, days=70, seed=4, onboarding_days=70)
    write_marts(settings.warehouse_path, world)
    last_day = max(world.orders["ordered_at"].max(), world.interactions["occurred_at"].max())
    last_day = pd.Timestamp(last_day).normalize()

    result = score(settings, "registration_forecast")

    assert result.success
    forecast = read(settings, "select * from ml.registration_forecast")
    assert forecast["date"].min() == last_day + pd.Timedelta(days=1)
    assert forecast["date"].max() == last_day + pd.Timedelta(days=28)
    assert (forecast.groupby("channel")["date"].nunique() == 28).all()
    meta = metadata(result, ["ml", "registration_forecast"])
    assert meta["history_last_date"] == last_day.date().isoformat()
    assert meta["as_of"] == (last_day + pd.Timedelta(days=1)).date().isoformat()


# --------------------------------------------------------------------------------------------
# models that cannot train yet

SCORE_TYPES = {
    "ml.user_segments": {
        "person_id": "VARCHAR",
        "segment": "VARCHAR",
        "model_version": "VARCHAR",
        "scored_at": "TIMESTAMP",
    },
    "ml.user_churn_scores": {
        "person_id": "VARCHAR",
        "churn_probability": "DOUBLE",
        "risk_decile": "BIGINT",
        "model_version": "VARCHAR",
        "scored_at": "TIMESTAMP",
    },
    "ml.user_clv": {
        "person_id": "VARCHAR",
        "p_alive": "DOUBLE",
        "expected_orders_365d": "DOUBLE",
        "expected_order_value": "DOUBLE",
        "clv_365d": "DOUBLE",
        "clv_as_of": "TIMESTAMP",
    },
    "ml.registration_forecast": {
        "date": "TIMESTAMP",
        "channel": "VARCHAR",
        "forecast": "DOUBLE",
        "lower_80": "DOUBLE",
        "upper_80": "DOUBLE",
        "generated_at": "TIMESTAMP",
    },
}


def check_evaluation(result: dg.ExecuteInProcessResult):
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.asset_key == CHURN_MODEL_KEY and evaluation.check_name == PROMOTION_CHECK
    return evaluation


@pytest.mark.parametrize(
    ("days", "month"),
    [
        (30, "2025-01-01"),  # 30 days: no monthly snapshot with a complete 30-day window
        (61, "2025-03-01"),  # two months: one snapshot, nothing to validate it on
    ],
)
def test_short_history_skips_churn_training_and_the_run_succeeds(settings, days, month):
    world = make_world(40, start=START, days=days, seed=2, onboarding_days=days // 2)
    write_marts(settings.warehouse_path, world)

    result = train(settings, month)

    assert result.success
    meta = metadata(result, ["models", "churn_model"])
    assert meta["status"] == "skipped: not enough data to train"
    assert meta["reason"].startswith("not enough history (2025-01-01 .. ")
    assert "need 2 (one to train, one to validate)" in meta["reason"]
    assert meta["serving_version"] == "none"
    evaluation = check_evaluation(result)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["reason"].value == f"not trained, nothing promoted: {meta['reason']}"
    registry = ModelRegistry(settings.models_dir)
    assert registry.list(CHURN) == [] and registry.promoted_version(CHURN) is None
    assert registry.last_skipped(CHURN)["reason"] == meta["reason"]
    # 160 persons are plenty for the personas
    assert metadata(result, ["models", "segmentation_model"])["status"] == "trained"
    assert registry.promoted_version(SEGMENTATION)

    scored = score(settings)

    assert scored.success
    churn = metadata(scored, ["ml", "user_churn_scores"])
    assert churn["rows"] == 0
    assert churn["reason"] == (
        f"no promoted churn model: the last training was skipped: {meta['reason']}"
    )
    assert read(settings, "select count(*) as n from ml.user_churn_scores")["n"][0] == 0
    assert column_types(settings, "ml.user_churn_scores") == SCORE_TYPES["ml.user_churn_scores"]
    segments = read(settings, "select * from ml.user_segments")
    assert len(segments) == len(world.users) and set(segments["segment"]) <= set(SEGMENT_VALUES)
    assert column_types(settings, "ml.user_segments") == SCORE_TYPES["ml.user_segments"]


def test_once_history_is_long_enough_churn_is_promoted_and_scores_appear(settings):
    world = make_world(250, start=START, days=300, seed=3)
    month_one = World(
        world.users[world.users["first_seen_at"] < "2025-01-31"],
        world.orders[world.orders["ordered_at"] < "2025-01-31"],
        world.interactions[world.interactions["occurred_at"] < "2025-01-31"],
        world.persons,
        world.start,
        pd.Timestamp("2025-01-31"),
    )
    write_marts(settings.warehouse_path, month_one)
    assert train(settings, "2025-01-01").success
    assert metadata(score(settings, "user_churn_scores"), ["ml", "user_churn_scores"])["rows"] == 0

    write_marts(settings.warehouse_path, world)
    result = train(settings, "2025-10-01")

    assert result.success
    meta = metadata(result, ["models", "churn_model"])
    assert meta["status"] == "trained" and meta["promoted"] is True
    assert check_evaluation(result).passed
    registry = ModelRegistry(settings.models_dir)
    assert registry.promoted_version(CHURN) == meta["model_version"]

    scored = score(settings, "user_churn_scores")

    assert scored.success
    scores = read(settings, "select * from ml.user_churn_scores")
    assert len(scores) == len(world.users)
    assert set(scores["model_version"]) == {meta["model_version"]}
    assert scores["churn_probability"].between(0, 1).all()
    assert column_types(settings, "ml.user_churn_scores") == SCORE_TYPES["ml.user_churn_scores"]


def test_a_february_window_cannot_train_churn_and_does_not_fail_the_run(settings):
    # snapshots 2025-02-01 and 2025-03-01: February's 30-day window ends after March 1
    world = make_world(40, start="2025-01-15", days=76, seed=2, onboarding_days=10)
    write_marts(settings.warehouse_path, world)

    result = train(settings, "2025-03-01")

    assert result.success
    assert metadata(result, ["models", "churn_model"])["reason"] == (
        "not enough history (2025-01-15 .. 2025-03-31): no snapshot's 30-day churn window ends "
        "by the validation snapshot 2025-03-01"
    )
    assert not check_evaluation(result).passed


def test_a_handful_of_persons_trains_nothing_and_every_score_table_is_empty_and_typed(settings):
    world = make_world(1, start=START, days=10, seed=1, onboarding_days=2)
    world = World(
        world.users.iloc[:3],
        world.orders,
        world.interactions,
        world.persons,
        world.start,
        world.end,
    )
    write_marts(settings.warehouse_path, world)

    trained = train(settings, "2025-01-01")

    assert trained.success
    segmentation = metadata(trained, ["models", "segmentation_model"])
    assert segmentation["reason"] == "3 persons, need at least 4 (one per cluster)"
    assert ModelRegistry(settings.models_dir).list() == []

    result = score(settings)

    assert result.success
    reasons = {
        table: metadata(result, ["ml", table])["reason"]
        for table in ("user_segments", "user_churn_scores", "user_clv", "registration_forecast")
    }
    assert reasons["user_segments"] == (
        "no promoted segmentation model: the last training was skipped: 3 persons, need at least "
        "4 (one per cluster)"
    )
    assert reasons["user_churn_scores"].startswith(
        "no promoted churn model: the last training was skipped: not enough history"
    )
    assert reasons["user_clv"].startswith("CLV not fitted: too few repeat buyers: ")
    assert reasons["registration_forecast"].startswith(
        "no channel has 14 days of registrations before 2025-01-1"
    )
    for table, types in SCORE_TYPES.items():
        assert column_types(settings, table) == types, table
        assert read(settings, f"select count(*) as n from {table}")["n"][0] == 0, table


def test_no_model_trained_yet_is_said_and_scoring_does_not_fail(settings):
    write_marts(settings.warehouse_path, make_world(10, start=START, days=40, seed=1))

    result = score(settings, "user_segments", "user_churn_scores")

    assert result.success
    reason = metadata(result, ["ml", "user_churn_scores"])["reason"]
    assert reason == (
        f"no promoted churn model: no churn model trained yet under {settings.models_dir}: run "
        "the monthly_models job (`siyu run` does so on a first run)"
    )


def test_a_brand_without_interactions_trains_and_scores(settings):
    world = make_world(40, start=START, days=45, seed=6, onboarding_days=20)
    crm_only = World(
        world.users,
        world.orders,
        world.interactions.iloc[:0],
        world.persons,
        world.start,
        world.end,
    )
    write_marts(settings.warehouse_path, crm_only)

    trained = train(settings, "2025-02-01")

    assert trained.success
    assert metadata(trained, ["models", "segmentation_model"])["status"] == "trained"
    assert metadata(trained, ["models", "churn_model"])["reason"].startswith("not enough history")
    scored = score(settings)
    assert scored.success
    segments = read(settings, "select segment, count(*) as n from ml.user_segments group by 1")
    found = set(segments["segment"])
    # no share, review or task anywhere: nobody can be content_sharing
    assert "content_sharing" not in found and found <= set(SEGMENT_VALUES)
    assert segments["n"].sum() == len(world.users)
    assert metadata(scored, ["ml", "user_clv"])["rows"] > 0
    assert metadata(scored, ["ml", "registration_forecast"])["rows"] > 0


def test_a_brand_with_members_only_scores_nothing_without_failing(settings):
    # no order and no interaction at all: the loaded days come from the persons' first_seen_at
    world = make_world(5, start=START, days=20, seed=1, onboarding_days=10)
    members_only = World(
        world.users,
        world.orders.iloc[:0],
        world.interactions.iloc[:0],
        world.persons,
        world.start,
        world.end,
    )
    write_marts(settings.warehouse_path, members_only)
    last_seen = pd.Timestamp(world.users["first_seen_at"].max()).normalize()

    trained = train(settings, "2025-01-01")

    assert trained.success
    assert metadata(trained, ["models", "segmentation_model"])["reason"] == (
        "20 persons show only 1 distinct behaviour profile(s), need at least 4 (one per cluster)"
    )
    scored = score(settings)
    assert scored.success
    forecast = metadata(scored, ["ml", "registration_forecast"])
    assert forecast["as_of"] == (last_seen + pd.Timedelta(days=1)).date().isoformat()
    assert metadata(scored, ["ml", "user_clv"])["reason"] == (
        "CLV not fitted: no buyers: no non-refunded order before the cutoff"
    )
    for table in ("ml.user_segments", "ml.user_churn_scores", "ml.user_clv"):
        assert read(settings, f"select count(*) as n from {table}")["n"][0] == 0, table


# --------------------------------------------------------------------------------------------
# the person features from dbt train and score exactly what the facts did


def test_training_and_scoring_read_the_rows_build_features_made_from_the_facts(settings):
    """The assets read the dbt rows instead of the facts: the same persons, snapshots, order,
    dtypes and labels, features equal to 1e-9 (float sums in another order), so the same models
    and scores as build_features on the facts gave."""
    import numpy as np

    from ml.churn import ChurnModel, split_for_training
    from ml.features import FEATURE_NAMES, build_features
    from warehouse.features import read_facts

    world = make_world(60, start=START, days=160, seed=5)
    write_marts(settings.warehouse_path, world)
    as_of = pd.Timestamp("2025-06-01")  # month 2025-05: snapshots 2025-02-01 .. 2025-05-01
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        orders, interactions, users = read_facts(con, before=as_of)
    split = split_for_training(orders, interactions, users, data_end=as_of)
    assert split.cannot_train_reason is None

    result = train(settings, "2025-05-01")

    assert result.success
    meta = metadata(result, ["models", "churn_model"])
    assert (meta["training_rows"], meta["validation_rows"]) == (len(split.train), len(split.valid))
    registry = ModelRegistry(settings.models_dir)
    (churn,) = registry.list(CHURN)
    assert churn["training_window"]["snapshots"] == [
        s.date().isoformat() for s in split.snapshots[:-1]
    ]
    reference = ChurnModel(random_state=0).fit(split.train[FEATURE_NAMES], split.train["churned"])
    trained = registry.load(CHURN, churn["version"])
    np.testing.assert_allclose(
        trained.predict_proba(split.valid[FEATURE_NAMES]),
        reference.predict_proba(split.valid[FEATURE_NAMES]),
        rtol=0,
        atol=1e-9,
    )

    scored = score(settings, "user_churn_scores", "user_segments")

    assert scored.success
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        orders, interactions, users = read_facts(con)
    last = max(orders["ordered_at"].max(), interactions["occurred_at"].max()).normalize()
    X = build_features(orders, interactions, users, last + pd.Timedelta(days=1))
    scores = read(settings, "select * from ml.user_churn_scores")
    assert scores["person_id"].tolist() == X.index.tolist()
    np.testing.assert_allclose(
        scores["churn_probability"], trained.churn_probability(X), rtol=0, atol=1e-9
    )
    segmentation = registry.load(SEGMENTATION, registry.promoted_version(SEGMENTATION))
    segments = read(settings, "select * from ml.user_segments")
    assert segments["segment"].tolist() == segmentation.predict(X).tolist()

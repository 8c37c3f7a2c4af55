"""Small real inputs for the model workflows: synthetic facts (tests/ml/siyu_synthetic.py) turned
into features and churn rows by the ml/ reference code, and a real registry in tmp_path."""

from __future__ import annotations

import pandas as pd
import pytest

from ml.churn import build_training_set
from ml.features import FEATURE_NAMES, build_features
from ml.workflows.churn import snapshots_to_read
from tests.ml.siyu_synthetic import World, make_world, single_thread  # noqa: F401 (autouse)
from warehouse.model_registry import ModelRegistry

START = "2025-01-01"


@pytest.fixture
def registry(tmp_path) -> ModelRegistry:
    return ModelRegistry(tmp_path / "models")


@pytest.fixture(scope="session")
def small_world() -> World:
    """80 persons over 60 days: enough for the personas, too short for churn."""
    return make_world(20, start=START, days=60, seed=7, onboarding_days=30)


@pytest.fixture(scope="session")
def small_features(small_world) -> pd.DataFrame:
    w = small_world
    return build_features(w.orders, w.interactions, w.users, w.end)


@pytest.fixture(scope="session")
def churn_world() -> World:
    """1,000 persons over 300 days: the churn model beats the recency baseline on it."""
    return make_world(250, start=START, days=300, seed=3)


def churn_rows(world: World, as_of: pd.Timestamp) -> pd.DataFrame:
    """The rows warehouse.features.read_person_features gives a training at `as_of`."""
    first_seen = world.users["first_seen_at"].min()
    snapshots = snapshots_to_read(first_seen, as_of)
    if not snapshots:  # the empty frame the warehouse reader gives for no snapshot
        index = pd.MultiIndex.from_arrays(
            [pd.DatetimeIndex([]), pd.Index([], dtype=object)],
            names=["snapshot_date", "person_id"],
        )
        columns = {f: pd.Series(dtype="float64") for f in FEATURE_NAMES}
        return pd.DataFrame({**columns, "churned": pd.Series(dtype="Int64")}, index=index)
    return build_training_set(
        world.orders, world.interactions, world.users, snapshots, data_end=as_of
    ).astype({"churned": "Int64"})

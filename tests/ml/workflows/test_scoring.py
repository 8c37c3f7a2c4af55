"""ml.workflows.scoring on real features and models in a real registry: no promoted model,
nothing to score, and scores typed as the ml.* tables."""

from __future__ import annotations

import pandas as pd
import pytest

from ml.churn import ChurnModel
from ml.features import FEATURE_NAMES
from ml.segmentation import SEGMENT_VALUES
from ml.workflows.contract import CHURN, ML_TABLE_COLUMNS, SEGMENTATION, ml_frame
from ml.workflows.scoring import no_model_reason, score_churn, score_segments
from ml.workflows.segmentation import train_segmentation


def unread() -> pd.DataFrame:
    raise AssertionError("the features are read although there is no model to score with")


def dtypes(frame: pd.DataFrame) -> dict[str, str]:
    return {c: str(t) for c, t in frame.dtypes.items()}


EMPTY_TYPES = {t: dtypes(ml_frame(t)) for t in ML_TABLE_COLUMNS}


def promote_churn_model(registry, features: pd.DataFrame) -> str:
    """A real churn model, fitted on labels that follow recency, saved and promoted."""
    X = features[FEATURE_NAMES]
    y = (X["recency_days"] > X["recency_days"].median()).astype(int)
    model = ChurnModel(random_state=0).fit(X, y)
    version = registry.save(
        CHURN,
        model,
        training_window={"data_end": "2025-03-02"},
        features=FEATURE_NAMES,
        params=model.get_params(),
        metrics={},
        training_data_hash="",
    )
    registry.mark_promoted(CHURN, version)
    return version


@pytest.mark.parametrize(("score", "name"), [(score_segments, SEGMENTATION), (score_churn, CHURN)])
def test_nothing_trained_yet_scores_nothing_and_reads_nothing(score, name, registry):
    as_of = pd.Timestamp("2025-03-02")

    scores = score(unread, as_of, registry)

    assert scores.reason == (
        f"no promoted {name} model: no {name} model trained yet under {registry.root}: run the "
        "monthly_models job (`siyu run` does so on a first run)"
    )
    assert scores.frame.empty and dtypes(scores.frame) == EMPTY_TYPES[scores.table]
    assert scores.version is None and scores.as_of == as_of


def test_a_skipped_training_is_the_reason(small_world, small_features, registry):
    train_segmentation(small_features.iloc[:3], small_world.end, registry)

    scores = score_segments(unread, small_world.end, registry)

    assert scores.reason == (
        "no promoted segmentation model: the last training was skipped: 3 persons, need at "
        "least 4 (one per cluster)"
    )
    assert no_model_reason(registry, SEGMENTATION) == scores.reason.split(": ", 1)[1]


@pytest.mark.parametrize("score", [score_segments, score_churn])
def test_nobody_to_score_writes_the_empty_table(score, small_world, small_features, registry):
    train_segmentation(small_features, small_world.end, registry)
    promote_churn_model(registry, small_features)
    as_of = pd.Timestamp("2025-01-01")

    scores = score(lambda: small_features.iloc[:0], as_of, registry)

    assert scores.reason == "no person first seen before 2025-01-01"
    assert scores.frame.empty and dtypes(scores.frame) == EMPTY_TYPES[scores.table]


def test_every_person_gets_a_segment(small_world, small_features, registry):
    version = train_segmentation(small_features, small_world.end, registry).version

    scores = score_segments(lambda: small_features, small_world.end, registry)

    assert scores.reason is None and scores.version == version
    assert scores.table == "user_segments"
    assert dtypes(scores.frame) == EMPTY_TYPES["user_segments"]
    assert scores.frame["person_id"].tolist() == small_features.index.tolist()
    assert set(scores.frame["segment"]) <= set(SEGMENT_VALUES)
    assert (scores.frame["model_version"] == version).all()
    assert (scores.frame["scored_at"] == small_world.end).all()
    assert list(scores.segment_sizes.index) == list(SEGMENT_VALUES)
    assert scores.segment_sizes.sum() == len(small_features)
    assert scores.segment_shares.sum() == pytest.approx(1.0)
    assert 0.0 <= scores.insufficient_data_share <= 1.0


def test_every_person_gets_a_churn_probability_and_decile(small_world, small_features, registry):
    version = promote_churn_model(registry, small_features)

    scores = score_churn(lambda: small_features, small_world.end, registry)

    assert scores.reason is None and scores.version == version
    assert scores.table == "user_churn_scores"
    assert dtypes(scores.frame) == EMPTY_TYPES["user_churn_scores"]
    assert scores.frame["person_id"].tolist() == small_features.index.tolist()
    assert scores.frame["churn_probability"].between(0, 1).all()
    assert set(scores.frame["risk_decile"]) == set(range(1, 11))
    assert scores.by_decile["count"].sum() == len(small_features)
    assert scores.by_decile["mean"].is_monotonic_increasing
    assert scores.mean_churn_probability == pytest.approx(scores.frame["churn_probability"].mean())

"""ml.workflows.segmentation.train_segmentation on real features and a real registry."""

from __future__ import annotations

import pandas as pd

from ml.segmentation import SEGMENT_VALUES, PersonaSegmenter
from ml.workflows.contract import SEGMENTATION
from ml.workflows.segmentation import PROMOTION_REASON, train_segmentation


def test_too_few_persons_is_skipped_and_recorded(small_world, small_features, registry):
    result = train_segmentation(small_features.iloc[:3], small_world.end, registry)

    assert result.skipped_reason == "3 persons, need at least 4 (one per cluster)"
    assert result.version is None and result.serving_version is None
    assert result.persons == 3
    assert result.window == {"as_of": small_world.end.date().isoformat()}
    assert registry.list(SEGMENTATION) == []
    assert registry.last_skipped(SEGMENTATION)["reason"] == result.skipped_reason


def test_identical_profiles_are_skipped(small_world, small_features, registry):
    same = pd.concat([small_features.iloc[[0]]] * 6)

    result = train_segmentation(same, small_world.end, registry)

    assert result.skipped_reason == (
        "6 persons show only 1 distinct behaviour profile(s), need at least 4 (one per cluster)"
    )
    assert registry.promoted_version(SEGMENTATION) is None


def test_first_model_is_saved_and_promoted(small_world, small_features, registry):
    result = train_segmentation(small_features, small_world.end, registry)

    assert result.skipped_reason is None
    assert result.version and registry.promoted_version(SEGMENTATION) == result.version
    assert result.serving_version == result.version
    assert result.labels_matched_to == "none (first model)"
    assert result.persons == len(small_features)
    assert result.segment_sizes.sum() == len(small_features)
    assert set(result.segment_sizes.index) <= set(SEGMENT_VALUES)
    assert -1 <= result.silhouette <= 1
    assert len(result.centroids) == 4
    (manifest,) = registry.list(SEGMENTATION)
    assert manifest["training_window"] == {"as_of": small_world.end.date().isoformat()}
    assert manifest["metrics"]["persons"] == len(small_features)
    assert registry.last_skipped(SEGMENTATION) is None
    promoted = (registry.root / SEGMENTATION / "PROMOTED.json").read_text()
    assert PROMOTION_REASON in promoted


def test_a_retrain_carries_the_promoted_models_names_over(small_world, small_features, registry):
    first = train_segmentation(small_features, small_world.end, registry)

    second = train_segmentation(small_features, small_world.end, registry)

    assert second.labels_matched_to == first.version
    assert second.version != first.version
    assert registry.promoted_version(SEGMENTATION) == second.version
    # the same persons and features: the carried-over names are the same segments
    assert second.segment_sizes.sort_index().equals(first.segment_sizes.sort_index())


def test_a_promoted_model_on_other_features_starts_a_new_lineage(
    small_world, small_features, registry
):
    features = ["spend_per_active_day_cny", "ugc_share_all", "coupon_claim_share_all"]
    old = PersonaSegmenter(random_state=0, features=features).fit(small_features)
    old_version = registry.save(
        SEGMENTATION,
        old,
        training_window={"as_of": "2025-01-01"},
        features=features,
        params=old.get_params(),
        metrics={},
        training_data_hash="",
    )
    registry.mark_promoted(SEGMENTATION, old_version)

    result = train_segmentation(small_features, small_world.end, registry)

    assert result.labels_matched_to == f"none ({old_version} used other features)"
    assert registry.promoted_version(SEGMENTATION) == result.version != old_version

"""Monthly training of the persona segmentation: fit, carry the previous model's names over,
save and promote (a segmentation model is promoted on training), or record why it cannot train."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ml.segmentation import SEGMENTATION_FEATURES, PersonaSegmenter
from ml.workflows.contract import SEGMENTATION
from warehouse.model_registry import ModelRegistry, hash_frame

PROMOTION_REASON = "segmentation models are promoted on training"


@dataclass(frozen=True, eq=False)
class SegmentationTraining:
    """What a segmentation training did.

    Attributes:
        window: the training window as the registry keeps it (``as_of``: the exclusive cutoff
            of the features, ISO date).
        persons: persons in the features.
        skipped_reason: why nothing was trained (too few persons or behaviour profiles), or None.
        serving_version: the promoted version after this training (None: none).
        version: the saved (and promoted) version; None when skipped.
        silhouette: the fit's silhouette score; None when skipped.
        labels_matched_to: the version whose names the clusters carry on, or why none
            ("none (first model)", or a new lineage because the feature set changed).
        segment_sizes: persons per segment in the training features (index ``segment``).
        centroids: the model's centroid table.
    """

    window: dict[str, str]
    persons: int
    skipped_reason: str | None = None
    serving_version: str | None = None
    version: str | None = None
    silhouette: float | None = None
    labels_matched_to: str | None = None
    segment_sizes: pd.Series | None = None
    centroids: pd.DataFrame | None = None


def train_segmentation(
    features: pd.DataFrame, as_of: pd.Timestamp, registry: ModelRegistry
) -> SegmentationTraining:
    """Train, save and promote a :class:`ml.segmentation.PersonaSegmenter` on ``features``.

    Args:
        features: one row per person at the cutoff, as :func:`ml.features.build_features` (or
            warehouse.features.read_features_at) returns them.
        as_of: the exclusive cutoff the features were computed at.
        registry: where the model is saved and promoted; a skip is recorded there too (scoring
            reads it back to say why there is no model).

    The names of the promoted model's clusters carry over to the nearest new centroids, so labels
    stay stable across retrains; a promoted model trained on other features cannot be matched
    and the new model starts a new lineage.
    """
    window = {"as_of": as_of.date().isoformat()}
    model = PersonaSegmenter(random_state=0)
    reason = model.cannot_fit_reason(features)
    if reason:
        registry.record_skipped(SEGMENTATION, reason=reason, training_window=window)
        return SegmentationTraining(
            window=window,
            persons=len(features),
            skipped_reason=reason,
            serving_version=registry.promoted_version(SEGMENTATION),
        )
    previous_version = registry.promoted_version(SEGMENTATION)
    previous = registry.load(SEGMENTATION, previous_version) if previous_version else None
    if previous is not None and list(previous.features_) != list(
        model.features or SEGMENTATION_FEATURES
    ):
        # a new feature set cannot be matched to the old centroids: start a new lineage
        previous_version, previous = f"none ({previous_version} used other features)", None
    model.fit(features, previous=previous)
    sizes = model.predict(features).value_counts().rename_axis("segment").rename("persons")
    version = registry.save(
        SEGMENTATION,
        model,
        training_window=window,
        features=list(model.features or features.columns),
        params=model.get_params(),
        metrics={
            "silhouette": float(model.silhouette_),
            "persons": int(len(features)),
            "segment_sizes": sizes.to_dict(),
        },
        training_data_hash=hash_frame(features),
    )
    registry.mark_promoted(SEGMENTATION, version, reason=PROMOTION_REASON)
    return SegmentationTraining(
        window=window,
        persons=len(features),
        serving_version=version,
        version=version,
        silhouette=float(model.silhouette_),
        labels_matched_to=previous_version or "none (first model)",
        segment_sizes=sizes,
        centroids=model.centroid_table(),
    )

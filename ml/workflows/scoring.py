"""Daily scoring with the promoted models: each person's persona and churn probability as of a
cutoff, as the typed ml.user_segments / ml.user_churn_scores tables; or the empty typed table
and why (no promoted model, nobody to score)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from ml.churn import risk_decile
from ml.features import FEATURE_NAMES
from ml.segmentation import INSUFFICIENT_DATA, SEGMENT_VALUES
from ml.workflows.contract import CHURN, SEGMENTATION, ml_frame
from warehouse.model_registry import ModelRegistry


@dataclass(frozen=True, eq=False)
class Scores:
    """One scoring of an ml.* table.

    Attributes:
        table: the ml table name (``user_segments``, ``user_churn_scores``).
        frame: the table to write, typed as :data:`ml.workflows.contract.ML_TABLE_COLUMNS`
            (empty when ``reason`` is set).
        as_of: the exclusive cutoff of the features scored.
        reason: why the table is empty, or None.
        version: the model version that scored; None when none did.
    """

    table: str
    frame: pd.DataFrame
    as_of: pd.Timestamp
    reason: str | None = None
    version: str | None = None


@dataclass(frozen=True, eq=False)
class SegmentScores(Scores):
    @property
    def segment_sizes(self) -> pd.Series:
        """Persons per segment, every value of :data:`ml.segmentation.SEGMENT_VALUES`."""
        return self.frame["segment"].value_counts().reindex(SEGMENT_VALUES, fill_value=0)

    @property
    def segment_shares(self) -> pd.Series:
        sizes = self.segment_sizes
        return (sizes / max(sizes.sum(), 1)).rename("share")

    @property
    def insufficient_data_share(self) -> float:
        return float(self.segment_shares[INSUFFICIENT_DATA])


@dataclass(frozen=True, eq=False)
class ChurnScores(Scores):
    @property
    def mean_churn_probability(self) -> float:
        return float(self.frame["churn_probability"].mean())

    @property
    def by_decile(self) -> pd.DataFrame:
        """Persons (count) and mean churn probability (mean) per risk decile."""
        return self.frame.groupby("risk_decile")["churn_probability"].agg(["count", "mean"])


def no_model_reason(registry: ModelRegistry, name: str) -> str:
    """Why `name` has no promoted version: the last skipped training, the last version's
    promotion decision, or that nothing was trained yet."""
    skipped = registry.last_skipped(name)
    versions = registry.list(name)
    latest = versions[-1] if versions else None
    if skipped and (latest is None or skipped["recorded_at"] > latest["saved_at"]):
        return f"the last training was skipped: {skipped['reason']}"
    if latest is not None:
        decision = latest.get("metrics", {}).get("reason", "not promoted")
        return f"{latest['version']} was not promoted ({decision})"
    return (
        f"no {name} model trained yet under {registry.root}: run the monthly_models job "
        "(`siyu run` does so on a first run)"
    )


def _empty(kind: type[Scores], table: str, as_of: pd.Timestamp, reason: str) -> Scores:
    return kind(table=table, frame=ml_frame(table), as_of=as_of, reason=reason)


def _promoted_and_features(
    kind: type[Scores],
    table: str,
    name: str,
    read_features: Callable[[], pd.DataFrame],
    as_of: pd.Timestamp,
    registry: ModelRegistry,
) -> Scores | tuple[str, pd.DataFrame]:
    """The promoted version of model `name` and the features to score, or the empty `kind`
    result saying why there is nothing to score (no promoted model, nobody first seen)."""
    version = registry.promoted_version(name)
    if not version:
        reason = f"no promoted {name} model: {no_model_reason(registry, name)}"
        return _empty(kind, table, as_of, reason)
    X = read_features()
    if X.empty:
        return _empty(kind, table, as_of, f"no person first seen before {as_of.date()}")
    return version, X


def score_segments(
    read_features: Callable[[], pd.DataFrame], as_of: pd.Timestamp, registry: ModelRegistry
) -> SegmentScores:
    """Every person's persona from the promoted segmentation model at ``as_of``.

    Args:
        read_features: returns the features at ``as_of`` (:func:`ml.features.build_features`
            rows). Called only when a model is promoted: without one nothing is read, so a
            features table that cannot be read yet does not fail a run that has nothing to score.
        as_of: the exclusive cutoff of the features; the rows' ``scored_at``.
        registry: holds the promoted model.
    """
    table = "user_segments"
    found = _promoted_and_features(
        SegmentScores, table, SEGMENTATION, read_features, as_of, registry
    )
    if isinstance(found, Scores):
        return found
    version, X = found
    model = registry.load(SEGMENTATION, version)
    frame = pd.DataFrame(
        {
            "person_id": X.index,
            "segment": model.predict(X).to_numpy(),
            "model_version": version,
            "scored_at": as_of,
        }
    )
    return SegmentScores(table, ml_frame(table, frame), as_of, version=version)


def score_churn(
    read_features: Callable[[], pd.DataFrame], as_of: pd.Timestamp, registry: ModelRegistry
) -> ChurnScores:
    """Every person's churn probability (no order and no inbound interaction in the next 30
    days) and risk decile from the promoted churn model at ``as_of``.

    Args: as :func:`score_segments`.
    """
    table = "user_churn_scores"
    found = _promoted_and_features(ChurnScores, table, CHURN, read_features, as_of, registry)
    if isinstance(found, Scores):
        return found
    version, X = found
    model = registry.load(CHURN, version)
    p = model.churn_probability(X[list(FEATURE_NAMES)])
    frame = pd.DataFrame(
        {
            "person_id": X.index,
            "churn_probability": p.to_numpy(),
            "risk_decile": risk_decile(p).to_numpy(),
            "model_version": version,
            "scored_at": as_of,
        }
    )
    return ChurnScores(table, ml_frame(table, frame), as_of, version=version)

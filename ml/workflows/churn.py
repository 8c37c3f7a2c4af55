"""Monthly training of the churn classifier: split the monthly snapshots, fit the model and the
recency baseline, evaluate both on the validation snapshot, save the model and promote it only
if it beats the baseline; or record why the data cannot train one yet."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ml.churn import (
    ChurnModel,
    RecencyBaseline,
    evaluate,
    promotion_decision,
    split_from_snapshots,
    training_snapshots,
)
from ml.features import FEATURE_NAMES
from ml.plots import calibration_plot
from ml.workflows.contract import CHURN
from warehouse.model_registry import ModelRegistry, hash_frame

#: The figures of the model and the baseline side by side in :attr:`ChurnTraining.metrics_table`.
SUMMARY_METRICS = ("roc_auc", "pr_auc", "brier", "top_decile_lift")


@dataclass(frozen=True, eq=False)
class ChurnTraining:
    """What a churn training did.

    Attributes:
        window: the training window as the registry keeps it (ISO dates: ``snapshots``, and
            for a trained model ``validation_snapshot``; ``data_end`` the exclusive cutoff).
        skipped_reason: why nothing was trained (too little history, one label only), or None.
        serving_version: the promoted version after this training (None: none).
        version: the saved version; None when skipped.
        promoted: whether ``version`` was promoted (it beat the recency baseline).
        promotion_reason: the decision with the figures that made it
            (:func:`ml.churn.promotion_decision`).
        candidate, baseline: :func:`ml.churn.evaluate` of the model and of the recency baseline
            on the validation snapshot.
        training_rows, validation_rows: person-snapshots trained and validated on.
        calibration_png: the model's reliability diagram on the validation snapshot (PNG).
    """

    window: dict
    skipped_reason: str | None = None
    serving_version: str | None = None
    version: str | None = None
    promoted: bool = False
    promotion_reason: str | None = None
    candidate: dict | None = None
    baseline: dict | None = None
    training_rows: int = 0
    validation_rows: int = 0
    calibration_png: bytes | None = None

    @property
    def metrics_table(self) -> pd.DataFrame:
        """:data:`SUMMARY_METRICS` (rows) of the model and the recency baseline (columns)."""
        if self.candidate is None or self.baseline is None:
            return pd.DataFrame()
        return pd.DataFrame(
            {
                name: {m: metrics[m] for m in SUMMARY_METRICS}
                for name, metrics in (
                    ("model", self.candidate),
                    ("recency_baseline", self.baseline),
                )
            }
        )


def snapshots_to_read(
    first_seen_at: pd.Timestamp | None, as_of: pd.Timestamp
) -> list[pd.Timestamp]:
    """The monthly snapshots whose person features a training at ``as_of`` needs: those of
    :func:`ml.churn.training_snapshots`, or none when there are fewer than two (one snapshot
    cannot train and validate, so its rows are not worth reading)."""
    snapshots = training_snapshots(first_seen_at, as_of)
    return snapshots if len(snapshots) >= 2 else []


def train_churn(
    rows: pd.DataFrame,
    first_seen_at: pd.Timestamp | None,
    as_of: pd.Timestamp,
    registry: ModelRegistry,
) -> ChurnTraining:
    """Train, evaluate, save and (if it beats the recency baseline) promote a churn model.

    Args:
        rows: features and labels per (``snapshot_date``, ``person_id``) of at least the
            :func:`snapshots_to_read` snapshots (warehouse.features.read_person_features).
        first_seen_at: the earliest first_seen_at of any person (None: no persons).
        as_of: the exclusive end of the data trained on (the day after the last day).
        registry: where the model is saved and promoted, or the skip recorded.
    """
    split = split_from_snapshots(rows, first_seen_at=first_seen_at, data_end=as_of)
    if split.cannot_train_reason:
        window = {
            "snapshots": [s.date().isoformat() for s in split.snapshots],
            "data_end": as_of.date().isoformat(),
        }
        registry.record_skipped(CHURN, reason=split.cannot_train_reason, training_window=window)
        return ChurnTraining(
            window=window,
            skipped_reason=split.cannot_train_reason,
            serving_version=registry.promoted_version(CHURN),
        )
    snapshots, train, valid = split.snapshots, split.train, split.valid
    features = list(FEATURE_NAMES)
    model = ChurnModel(random_state=0).fit(train[features], train["churned"])
    baseline = RecencyBaseline().fit(train[features], train["churned"])
    candidate = evaluate(valid["churned"], model.predict_proba(valid[features])[:, 1])
    base = evaluate(valid["churned"], baseline.predict_proba(valid[features])[:, 1])
    promote, reason = promotion_decision(candidate, base)
    window = {
        "snapshots": [s.date().isoformat() for s in snapshots[:-1]],
        "validation_snapshot": snapshots[-1].date().isoformat(),
        "data_end": as_of.date().isoformat(),
    }
    version = registry.save(
        CHURN,
        model,
        training_window=window,
        features=features,
        params=model.get_params(),
        metrics={"candidate": candidate, "baseline": base, "promoted": promote, "reason": reason},
        training_data_hash=hash_frame(train[features + ["churned"]]),
    )
    if promote:
        registry.mark_promoted(CHURN, version, reason=reason)
    return ChurnTraining(
        window=window,
        serving_version=registry.promoted_version(CHURN),
        version=version,
        promoted=bool(promote),
        promotion_reason=reason,
        candidate=candidate,
        baseline=base,
        training_rows=len(train),
        validation_rows=len(valid),
        calibration_png=calibration_plot(candidate["calibration"], title=f"Calibration {version}"),
    )

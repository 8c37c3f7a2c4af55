"""Churn: probability that a person goes quiet in the next ``horizon_days`` days.

Label (``user_churn_scores.churn_probability``): a person labelled at snapshot date ``s`` has
churned when they have **no order and no inbound interaction** in ``[s 00:00, s + horizon_days)``
local time. Any order counts as activity, refunded or not (the user came back). Features are taken
with :func:`ml.features.build_features` at the same cutoff ``s``, so they only see the past.

Training: :func:`build_training_set` stacks several snapshots (:func:`monthly_snapshots`);
:func:`temporal_split` trains on earlier snapshots and validates on a later one; :class:`ChurnModel`
is a calibrated gradient-boosting classifier; :class:`RecencyBaseline` is the model it must beat
(:func:`promotion_decision`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from ml.features import FEATURE_NAMES, build_features, cutoff_timestamp, to_local_naive

__all__ = [
    "ChurnModel",
    "RecencyBaseline",
    "TrainingSplit",
    "build_training_set",
    "calibration_table",
    "churn_labels",
    "evaluate",
    "monthly_snapshots",
    "oracle_auc",
    "promotion_decision",
    "risk_decile",
    "split_for_training",
    "split_from_snapshots",
    "temporal_split",
    "training_snapshots",
]

LABEL = "churned"


# --------------------------------------------------------------------------------------------
# labels and training sets
# --------------------------------------------------------------------------------------------
def churn_labels(
    orders: pd.DataFrame,
    interactions: pd.DataFrame,
    users: pd.DataFrame,
    snapshot_date: date | str | pd.Timestamp,
    *,
    data_end: date | str | pd.Timestamp,
    horizon_days: int = 30,
) -> pd.Series:
    """Churn labels at one snapshot: 1 = no order and no inbound interaction in the window.

    Window: ``[snapshot_date 00:00, snapshot_date 00:00 + horizon_days days)``, local time. An
    event at exactly ``snapshot + horizon_days`` is outside the window; one a second earlier is
    inside.

    Population: persons in ``users`` first seen strictly before ``snapshot_date`` (the ones
    :func:`ml.features.build_features` returns for that cutoff). Persons without a full future
    window are not labelled: when ``snapshot + horizon_days > data_end`` the result is empty.

    Args:
        data_end: exclusive end of the observed data (the first date with no data loaded, i.e.
            the day after the last complete day).

    Returns:
        int Series (0/1) named ``churned`` indexed by ``person_id`` (sorted).
    """
    start = cutoff_timestamp(snapshot_date)
    end = start + pd.Timedelta(days=horizon_days)
    first_seen = to_local_naive(users["first_seen_at"])
    population = pd.Index(
        users.loc[first_seen < start, "person_id"].unique(), name="person_id"
    ).sort_values()
    if end > cutoff_timestamp(data_end):
        return pd.Series([], index=population[:0], name=LABEL, dtype=int)

    ordered_at = to_local_naive(orders["ordered_at"])
    buyers = orders.loc[(ordered_at >= start) & (ordered_at < end), "person_id"]
    occurred_at = to_local_naive(interactions["occurred_at"])
    in_window = (occurred_at >= start) & (occurred_at < end)
    actors = interactions.loc[in_window & (interactions["direction"] == "inbound"), "person_id"]
    active = population.isin(pd.concat([buyers, actors]).unique())
    return pd.Series((~active).astype(int), index=population, name=LABEL)


def monthly_snapshots(
    first: date | str | pd.Timestamp,
    data_end: date | str | pd.Timestamp,
    *,
    horizon_days: int = 30,
) -> list[pd.Timestamp]:
    """Month starts from ``first`` (rounded up to a month start) whose label window is complete.

    A snapshot ``s`` qualifies when ``s + horizon_days <= data_end`` (``data_end`` exclusive).
    """
    start = cutoff_timestamp(first)
    if start.day != 1:
        start = start + pd.offsets.MonthBegin(1)
    last = cutoff_timestamp(data_end) - pd.Timedelta(days=horizon_days)
    if last < start:
        return []
    return list(pd.date_range(start, last, freq="MS"))


def build_training_set(
    orders: pd.DataFrame,
    interactions: pd.DataFrame,
    users: pd.DataFrame,
    snapshot_dates: Iterable[date | str | pd.Timestamp],
    *,
    data_end: date | str | pd.Timestamp,
    horizon_days: int = 30,
) -> pd.DataFrame:
    """Stack point-in-time features and churn labels over several snapshots.

    Each snapshot contributes one row per person first seen before it, with features from
    :func:`ml.features.build_features` at the snapshot (facts strictly before it) and the label of
    :func:`churn_labels` (facts in the following ``horizon_days`` days). Snapshots without a full
    label window are skipped.

    Returns:
        DataFrame indexed by (``snapshot_date``, ``person_id``) with :data:`FEATURE_NAMES` columns
        and the int label column ``churned``.
    """
    frames = []
    for snap in sorted({cutoff_timestamp(s) for s in snapshot_dates}):
        y = churn_labels(
            orders, interactions, users, snap, data_end=data_end, horizon_days=horizon_days
        )
        if y.empty:
            continue
        X = build_features(orders, interactions, users, snap)
        frame = X.join(y, how="inner")
        frame.index = pd.MultiIndex.from_arrays(
            [np.full(len(frame), snap), frame.index], names=["snapshot_date", "person_id"]
        )
        frames.append(frame)
    if not frames:
        raise ValueError(
            "no snapshot has a complete label window: every snapshot + horizon_days is after "
            "data_end; pick earlier snapshots or load more data"
        )
    return pd.concat(frames)


def temporal_split(
    training_set: pd.DataFrame,
    validation_snapshot: date | str | pd.Timestamp,
    *,
    horizon_days: int = 30,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a :func:`build_training_set` frame into earlier training and later validation rows.

    Training rows: snapshots whose whole label window ends on or before the validation snapshot
    (``s + horizon_days <= validation_snapshot``), so no training label peeks into the validation
    period. Validation rows: the validation snapshot itself.
    """
    val = cutoff_timestamp(validation_snapshot)
    snaps = training_set.index.get_level_values("snapshot_date")
    train = training_set[snaps + pd.Timedelta(days=horizon_days) <= val]
    valid = training_set[snaps == val]
    if train.empty or valid.empty:
        raise ValueError(
            f"temporal split at {val.date()} leaves {len(train)} training and {len(valid)} "
            "validation rows; choose a validation snapshot inside the training set's range"
        )
    return train, valid


@dataclass(frozen=True)
class TrainingSplit:
    """What :func:`split_for_training` found: the snapshots and rows, or why none can train.

    Attributes:
        snapshots: month starts with a complete label window (the last one validates).
        train, valid: training and validation rows (:func:`build_training_set` frames); empty
            when ``cannot_train_reason`` is set.
        cannot_train_reason: why no model can be trained and validated on this data, or None.
    """

    snapshots: list[pd.Timestamp]
    train: pd.DataFrame
    valid: pd.DataFrame
    cannot_train_reason: str | None


def training_snapshots(
    first_seen_at: date | str | pd.Timestamp | None,
    data_end: date | str | pd.Timestamp,
    *,
    horizon_days: int = 30,
) -> list[pd.Timestamp]:
    """The monthly snapshots a training on data up to ``data_end`` (exclusive) uses.

    A snapshot labels persons first seen before it, so the first one is the first month start
    after the day the first person was seen (``first_seen_at``, the earliest ``dim_users``
    first_seen_at); each needs a complete ``horizon_days`` label window (:func:`monthly_snapshots`).
    No person (``first_seen_at`` missing): no snapshot.
    """
    if first_seen_at is None or pd.isna(first_seen_at):
        return []
    first = cutoff_timestamp(first_seen_at) + pd.Timedelta(days=1)
    return monthly_snapshots(first, data_end, horizon_days=horizon_days)


def split_for_training(
    orders: pd.DataFrame,
    interactions: pd.DataFrame,
    users: pd.DataFrame,
    *,
    data_end: date | str | pd.Timestamp,
    horizon_days: int = 30,
    cv: int = 3,
) -> TrainingSplit:
    """Monthly snapshots, training set and temporal split, or the reason the data cannot train.

    Builds the rows of :func:`training_snapshots` from the facts with :func:`build_training_set`
    and splits them with :func:`split_from_snapshots` (which states the minimum history).

    Args:
        data_end: exclusive end of the observed data (the day after the last loaded day).
    """
    end = cutoff_timestamp(data_end)
    first_seen = to_local_naive(users["first_seen_at"]).dropna()
    first_seen_at = first_seen.min() if len(first_seen) else None
    snapshots = training_snapshots(first_seen_at, end, horizon_days=horizon_days)
    if len(snapshots) < 2:
        training = _empty_training_set()
    else:
        training = build_training_set(
            orders, interactions, users, snapshots, data_end=end, horizon_days=horizon_days
        )
    return split_from_snapshots(
        training, first_seen_at=first_seen_at, data_end=end, horizon_days=horizon_days, cv=cv
    )


def _empty_training_set() -> pd.DataFrame:
    index = pd.MultiIndex.from_arrays(
        [pd.DatetimeIndex([], dtype="datetime64[us]"), pd.Index([], dtype=object)],
        names=["snapshot_date", "person_id"],
    )
    return pd.DataFrame(
        {**{f: pd.Series(dtype=float) for f in FEATURE_NAMES}, LABEL: pd.Series(dtype=int)},
        index=index,
    )


def split_from_snapshots(
    training_set: pd.DataFrame,
    *,
    first_seen_at: date | str | pd.Timestamp | None,
    data_end: date | str | pd.Timestamp,
    horizon_days: int = 30,
    cv: int = 3,
) -> TrainingSplit:
    """:func:`split_for_training` on precomputed features and labels per snapshot.

    The minimum history: two month starts after the first person was seen, each with persons
    first seen before it and a complete ``horizon_days`` label window before ``data_end``, the
    earlier window ending by the later snapshot (training) and the later one validating. Both
    labels must occur: at least ``cv`` churned and ``cv`` active rows to train (the calibration
    folds are stratified) and both in the validation rows (ROC AUC needs two classes). With data
    from the 1st of a month that is about three months: a brand loaded from 2026-05-01 trains
    once its data reach 2026-07-30 (snapshots 2026-06-01 and 2026-07-01, whose window is
    2026-07-01 .. 2026-07-30).

    Args:
        training_set: rows indexed by (``snapshot_date``, ``person_id``) with the
            :data:`FEATURE_NAMES` columns and the label ``churned``, as :func:`build_training_set`
            returns them (or the warehouse's person features); it may hold other snapshots too
            (only the :func:`training_snapshots` rows are used), whose labels may be missing.
        first_seen_at: the earliest first_seen_at of any person (None: no persons).
        data_end: exclusive end of the observed data (the day after the last loaded day).
        horizon_days: the churn window the labels were computed with.
    """
    empty = pd.DataFrame(columns=[*FEATURE_NAMES, LABEL])

    def cannot(reason: str, snapshots: list[pd.Timestamp]) -> TrainingSplit:
        return TrainingSplit(snapshots, empty, empty, reason)

    end = cutoff_timestamp(data_end)
    if first_seen_at is None or pd.isna(first_seen_at):
        return cannot("no persons in dim_users", [])
    snapshots = training_snapshots(first_seen_at, end, horizon_days=horizon_days)
    history = f"{pd.Timestamp(first_seen_at).date()} .. {(end - pd.Timedelta(days=1)).date()}"
    if len(snapshots) < 2:
        return cannot(
            f"not enough history ({history}): {len(snapshots)} monthly snapshot(s) with a "
            f"complete {horizon_days}-day churn window, need 2 (one to train, one to validate)",
            snapshots,
        )
    snaps = training_set.index.get_level_values("snapshot_date")
    training = training_set.loc[snaps.isin(snapshots), [*FEATURE_NAMES, LABEL]]
    if training[LABEL].isna().any():
        raise ValueError(
            f"missing churn labels at snapshots whose {horizon_days}-day window ends by "
            f"{end.date()}: the rows were built with less data than data_end says"
        )
    training = training.astype({LABEL: "int64"})
    val = snapshots[-1]
    snaps = training.index.get_level_values("snapshot_date")
    train = training[snaps + pd.Timedelta(days=horizon_days) <= val]
    valid = training[snaps == val]
    if train.empty:
        return cannot(
            f"not enough history ({history}): no snapshot's {horizon_days}-day churn window ends "
            f"by the validation snapshot {val.date()}",
            snapshots,
        )
    counts = train[LABEL].value_counts()
    churned, active = int(counts.get(1, 0)), int(counts.get(0, 0))
    if min(churned, active) < cv:
        return cannot(
            f"training rows have {churned} churned and {active} active person-snapshots, need "
            f"at least {cv} of each",
            snapshots,
        )
    if valid[LABEL].nunique() < 2:
        if valid.empty:
            return cannot(f"no validation rows at {val.date()}", snapshots)
        label = "churned" if valid[LABEL].iloc[0] == 1 else "active"
        return cannot(
            f"every one of the {len(valid)} validation rows ({val.date()}) is {label}: the "
            "model cannot be compared with the baseline",
            snapshots,
        )
    return TrainingSplit(snapshots, train, valid, None)


# --------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------
class _FrameClassifier(ClassifierMixin, BaseEstimator):
    """Shared plumbing: column selection and a Series of churn probabilities."""

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        missing = [f for f in self.feature_names_in_ if f not in X.columns]
        if missing:
            raise ValueError(f"{type(self).__name__} needs feature columns {missing}")
        return X.loc[:, list(self.feature_names_in_)].to_numpy(dtype=float)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Class label (1 = churn) at a 0.5 probability threshold."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def churn_probability(self, X: pd.DataFrame) -> pd.Series:
        """Churn probability per row, a Series named ``churn_probability`` indexed like ``X``."""
        return pd.Series(self.predict_proba(X)[:, 1], index=X.index, name="churn_probability")


# Training rows from which isotonic calibration is used (below it, sigmoid).
ISOTONIC_MIN_ROWS = 5_000


class ChurnModel(_FrameClassifier):
    """Calibrated gradient boosting on the point-in-time features.

    A ``HistGradientBoostingClassifier`` wrapped in ``CalibratedClassifierCV``. Calibration is
    **isotonic** by default: training sets span several snapshots of the whole user base (tens of
    thousands of rows), enough for isotonic regression's extra flexibility without overfitting, and
    boosted trees' raw scores are often not sigmoid-shaped. Use ``calibration="sigmoid"`` for small
    training sets (under a few thousand rows). The cross-validation folds are stratified random, not
    temporal; the temporal check is the validation snapshot.

    Parameters:
        random_state: seed for the boosting and fold split.
        calibration: ``"isotonic"``, ``"sigmoid"`` or ``"auto"`` (isotonic from
            :data:`ISOTONIC_MIN_ROWS` training rows, sigmoid below).
        cv: calibration folds.
        max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization: passed to
            ``HistGradientBoostingClassifier``.
        features: feature columns; default :data:`ml.features.FEATURE_NAMES`.

    Attributes:
        feature_names_in_, classes_, calibrated_ (the fitted ``CalibratedClassifierCV``),
        calibration_ (the method used), min_samples_leaf_ (capped at 5% of the training rows).
    """

    def __init__(
        self,
        random_state: int = 0,
        calibration: str = "auto",
        cv: int = 3,
        max_iter: int = 200,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 40,
        l2_regularization: float = 1.0,
        features: Sequence[str] | None = None,
    ) -> None:
        self.random_state = random_state
        self.calibration = calibration
        self.cv = cv
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.features = features

    def fit(self, X: pd.DataFrame, y: Sequence[int] | pd.Series) -> ChurnModel:
        """Fit on features ``X`` and 0/1 churn labels ``y``."""
        if self.calibration not in ("auto", "isotonic", "sigmoid"):
            raise ValueError("calibration must be 'auto', 'isotonic' or 'sigmoid'")
        n_rows = len(X)
        # isotonic calibration needs many rows per fold; on a small brand's few hundred rows
        # it collapses to a step or a constant (ROC AUC 0.5), so small sets use sigmoid
        self.calibration_ = (
            ("isotonic" if n_rows >= ISOTONIC_MIN_ROWS else "sigmoid")
            if self.calibration == "auto"
            else self.calibration
        )
        # leaves of at most 5% of the training rows, so a small training set still splits
        self.min_samples_leaf_ = int(max(5, min(self.min_samples_leaf, n_rows // 20)))
        self.feature_names_in_ = np.asarray(list(self.features or FEATURE_NAMES), dtype=object)
        booster = HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf_,
            l2_regularization=self.l2_regularization,
            early_stopping=False,
            random_state=self.random_state,
        )
        folds = StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
        self.calibrated_ = CalibratedClassifierCV(booster, method=self.calibration_, cv=folds)
        self.calibrated_.fit(self._matrix(X), np.asarray(y, dtype=int))
        self.classes_ = self.calibrated_.classes_
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """``(n, 2)`` probabilities of [active, churned]."""
        return self.calibrated_.predict_proba(self._matrix(X))


class RecencyBaseline(_FrameClassifier):
    """Baseline: logistic regression on ``log1p(recency_days)`` alone (monotone in recency).

    Parameters:
        feature: the single recency column; ``"recency_days"`` (days since last non-refunded order).
    """

    def __init__(self, feature: str = "recency_days") -> None:
        self.feature = feature

    def fit(self, X: pd.DataFrame, y: Sequence[int] | pd.Series) -> RecencyBaseline:
        """Fit the one-feature logistic regression."""
        self.feature_names_in_ = np.asarray([self.feature], dtype=object)
        self.logistic_ = LogisticRegression().fit(
            np.log1p(np.clip(self._matrix(X), 0, None)), np.asarray(y, dtype=int)
        )
        self.classes_ = self.logistic_.classes_
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """``(n, 2)`` probabilities of [active, churned]."""
        return self.logistic_.predict_proba(np.log1p(np.clip(self._matrix(X), 0, None)))


# --------------------------------------------------------------------------------------------
# evaluation and promotion
# --------------------------------------------------------------------------------------------
def risk_decile(p: Sequence[float] | pd.Series) -> np.ndarray | pd.Series:
    """Risk decile 1..10 (10 = highest probability), equal-sized deciles.

    Ties are broken deterministically: by the Series index (``person_id``) when ``p`` is a Series,
    else by position; so the same scores always give the same deciles. Returns a Series named
    ``risk_decile`` for Series input, else an int array.
    """
    values = np.asarray(p, dtype=float)
    n = len(values)
    if isinstance(p, pd.Series):
        tie_key = pd.factorize(p.index.to_numpy(), sort=True)[0] if n else np.array([], int)
    else:
        tie_key = np.arange(n)
    order = np.lexsort((tie_key, values))  # ascending probability, then tie key
    rank = np.empty(n, dtype=int)
    rank[order] = np.arange(n)
    deciles = (rank * 10 // max(n, 1)) + 1
    if isinstance(p, pd.Series):
        return pd.Series(deciles, index=p.index, name="risk_decile")
    return deciles


def calibration_table(y: Sequence[int], p: Sequence[float], n_bins: int = 10) -> pd.DataFrame:
    """Reliability table: ``n_bins`` equal-width probability bins on [0, 1] (empty bins dropped).

    Columns: bin (1..n_bins), p_low, p_high, n, mean_predicted, observed_rate.
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    b = np.clip(np.digitize(p, edges[1:-1], right=False), 0, n_bins - 1)
    frame = pd.DataFrame({"bin": b + 1, "y": y, "p": p})
    table = (
        frame.groupby("bin")
        .agg(n=("y", "size"), mean_predicted=("p", "mean"), observed_rate=("y", "mean"))
        .reset_index()
    )
    table.insert(1, "p_low", edges[table["bin"] - 1])
    table.insert(2, "p_high", edges[table["bin"]])
    table["n"] = table["n"].astype(int)
    return table


def evaluate(y: Sequence[int], p: Sequence[float]) -> dict:
    """Validation metrics of churn probabilities ``p`` against 0/1 labels ``y``.

    Returns:
        ``roc_auc``, ``pr_auc`` (average precision), ``brier`` (mean squared error of the
        probability), ``top_decile_lift`` (churn rate in risk decile 10 / overall churn rate),
        ``base_rate``, ``n``, ``expected_calibration_error`` (n-weighted mean |observed - predicted|
        over the bins) and ``calibration`` (:func:`calibration_table`, 10 bins, as a DataFrame).
    """
    y_arr = np.asarray(y, dtype=int)
    p_arr = np.asarray(p, dtype=float)
    base = float(y_arr.mean()) if len(y_arr) else float("nan")
    both = len(np.unique(y_arr)) == 2
    top = risk_decile(p_arr) == 10
    table = calibration_table(y_arr, p_arr)
    ece = float(
        (table["n"] * (table["observed_rate"] - table["mean_predicted"]).abs()).sum()
        / max(len(y_arr), 1)
    )
    return {
        "roc_auc": float(roc_auc_score(y_arr, p_arr)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y_arr, p_arr)) if both else float("nan"),
        "brier": float(brier_score_loss(y_arr, p_arr)) if len(y_arr) else float("nan"),
        "top_decile_lift": float(y_arr[top].mean() / base)
        if base > 0 and top.any()
        else float("nan"),
        "base_rate": base,
        "n": int(len(y_arr)),
        "expected_calibration_error": ece,
        "calibration": table,
    }


def oracle_auc(y: Sequence[int], hazard: Sequence[float]) -> float:
    """ROC AUC of the true (planted) churn hazard: the ceiling a model could reach on ``y``.

    Any monotone transform of the hazard (e.g. ``1 - (1 - h) ** 30``) has the same AUC.
    """
    return float(roc_auc_score(np.asarray(y, dtype=int), np.asarray(hazard, dtype=float)))


def promotion_decision(
    candidate_metrics: dict, baseline_metrics: dict, *, min_auc_gain: float = 0.0
) -> tuple[bool, str]:
    """Decide whether a candidate churn model may replace the serving one.

    Rule (both on the same validation snapshot): promote only if the candidate's ROC AUC is
    greater than the baseline's by more than ``min_auc_gain`` **and** its Brier score is no worse
    (``<=``) than the baseline's: a model must rank better without being worse calibrated.

    Returns:
        ``(promote, reason)`` with the figures that decided it.
    """
    c_auc, b_auc = candidate_metrics["roc_auc"], baseline_metrics["roc_auc"]
    c_brier, b_brier = candidate_metrics["brier"], baseline_metrics["brier"]
    figures = (
        f"ROC AUC {c_auc:.4f} vs baseline {b_auc:.4f}; "
        f"Brier {c_brier:.4f} vs baseline {b_brier:.4f}"
    )
    if not np.isfinite(c_auc) or not np.isfinite(b_auc):
        return False, f"not promoted: ROC AUC undefined (one class only). {figures}"
    if not c_auc > b_auc + min_auc_gain:
        return False, f"not promoted: ROC AUC does not beat baseline by > {min_auc_gain}. {figures}"
    if not c_brier <= b_brier:
        return False, f"not promoted: Brier worse than baseline. {figures}"
    return True, f"promoted: better ranking, calibration no worse. {figures}"

"""Persona segmentation: cluster persons into the plan's four user types (seed 000, 3.1).

``PersonaSegmenter`` standardises a handful of behavioural features from
:func:`ml.features.build_features` (log1p first for the skewed counts, amounts and day counts),
runs KMeans and names each cluster with one of :data:`SEGMENTS` by documented rules on the
centroids (:func:`centroid_name_scores`, :func:`assign_names`).

Evidence rule: a person gets a persona only where its defining behaviour exists in their facts
(:func:`persona_evidence`); where it does not, the person's segment is :data:`INSUFFICIENT_DATA`
instead of the cluster's name. KMeans puts every person in some cluster, so without the rule a
person with no share, review or task would be called ``content_sharing`` because they sit nearest
to that centroid:

* ``high_value_paying`` needs at least one non-refunded order;
* ``content_sharing`` needs at least one share, review or task_complete event (UGC);
* ``price_sensitive`` needs coupon or discount use: an order with a coupon or a discount, or a
  claimed coupon;
* ``dormant`` needs past activity (an order or an inbound interaction) that stopped: nothing in
  the last :data:`DORMANT_AFTER_DAYS` days before the cutoff.

Label stability across monthly retrains: ``fit(X, previous=fitted_segmenter)`` matches the new
centroids to the previous model's centroids (Hungarian assignment on Euclidean distance, measured in
the *previous* model's standardised space) and inherits the previous names, so a person whose
behaviour did not change keeps the same segment even if KMeans numbered its clusters differently.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.preprocessing import StandardScaler

from ml.features import NO_EVENT_DAYS

__all__ = [
    "DORMANT_AFTER_DAYS",
    "EVIDENCE_FEATURES",
    "INSUFFICIENT_DATA",
    "LOG_FEATURES",
    "SEGMENTATION_FEATURES",
    "SEGMENTS",
    "SEGMENT_VALUES",
    "PersonaSegmenter",
    "adjusted_rand",
    "assign_names",
    "centroid_name_scores",
    "label_agreement",
    "persona_evidence",
]

#: The four personas (cluster names), in the order used by score matrices.
SEGMENTS: tuple[str, ...] = ("high_value_paying", "content_sharing", "price_sensitive", "dormant")

#: The segment of a person whose cluster's persona has no evidence in their facts.
INSUFFICIENT_DATA = "insufficient_data"

#: Every value of ``user_segments.segment``.
SEGMENT_VALUES: tuple[str, ...] = (*SEGMENTS, INSUFFICIENT_DATA)

#: A person is dormant only after this many days without an order or inbound interaction: the
#: churn label's 30-day horizon, so "dormant" and "churned" mean the same silence.
DORMANT_AFTER_DAYS = 30.0

#: Columns of :func:`ml.features.build_features` that :func:`persona_evidence` reads.
EVIDENCE_FEATURES: tuple[str, ...] = (
    "orders_per_100_active_days",
    "inbound_per_10_active_days",
    "days_since_last_active",
    "ugc_share_all",
    "coupon_order_share_all",
    "discount_depth_mean_all",
    "coupon_claim_share_all",
)

#: Features the segmenter clusters on (columns of :func:`ml.features.build_features`).
#: All are lifetime behaviour normalised by active tenure (rates per active day, shares, means),
#: not trailing-window counts: a persona is *how* someone behaves while active, and on real data
#: many persons churned long ago or were seen only briefly, so windowed counts made every such
#: person look "dormant" (ARI 0.20 on the demo data vs 0.41 with these features).
SEGMENTATION_FEATURES: tuple[str, ...] = (
    "inbound_per_10_active_days",
    "spend_per_active_day_cny",
    "ugc_share_all",
    "coupon_claim_share_all",
    "coupon_order_share_all",
    "discount_depth_mean_all",
)

#: Right-skewed, non-negative features transformed with log1p before standardising.
LOG_FEATURES: frozenset[str] = frozenset(
    {
        "spend_per_active_day_cny",
        "orders_per_100_active_days",
        "inbound_per_10_active_days",
        "order_amount_mean_all_cny",
        "recency_days",
        "days_since_last_inbound",
        "frequency_365d",
        "inbound_90d",
        "monetary_mean_cny",
        "monetary_total_365d_cny",
        "ugc_90d",
        "coupon_claims_90d",
    }
)

# The naming rules: each segment's score for a centroid is the mean z-score of the features it
# is characterised by (sign +1 = high value is typical, -1 = low value is typical). Rules name
# features of both the default lifetime feature set and the older trailing-window set; features
# not being clustered on are skipped.
#   dormant            lowest activity rates (orders and inbound actions per active day), or long
#                      since last order / inbound action and few orders/actions
#   high_value_paying  highest spend: order value, order rate / yearly spend and frequency
#   content_sharing    highest user-generated content: share of shares, reviews, completed tasks
#   price_sensitive    highest coupon and discount use, coupon claims
NAME_RULES: dict[str, dict[str, float]] = {
    "dormant": {
        "orders_per_100_active_days": -1.0,
        "inbound_per_10_active_days": -1.0,
        "spend_per_active_day_cny": -0.5,
        "recency_days": 1.0,
        "days_since_last_inbound": 1.0,
        "frequency_365d": -1.0,
        "inbound_90d": -1.0,
    },
    "high_value_paying": {
        "spend_per_active_day_cny": 1.0,
        "order_amount_mean_all_cny": 1.0,
        "orders_per_100_active_days": 0.5,
        "monetary_mean_cny": 1.0,
        "monetary_total_365d_cny": 1.0,
        "frequency_365d": 0.5,
    },
    "content_sharing": {"ugc_share_all": 1.0, "ugc_90d": 1.0},
    "price_sensitive": {
        "coupon_claim_share_all": 1.0,
        "coupon_order_share_all": 1.0,
        "discount_depth_mean_all": 1.0,
        "coupon_order_share": 1.0,
        "discount_depth_mean": 1.0,
        "coupon_claims_90d": 1.0,
    },
}


def centroid_name_scores(
    centroids_z: np.ndarray,
    features: Sequence[str],
    segments: Sequence[str] = SEGMENTS,
    rules: dict[str, dict[str, float]] | None = None,
) -> np.ndarray:
    """Score every (centroid, segment name) pair; higher = the centroid looks more like the name.

    Args:
        centroids_z: ``(n_clusters, n_features)`` centroids in standardised (z-score) units.
        features: the feature name of each centroid column.
        segments: segment names, one score column each.
        rules: ``{segment: {feature: weight}}``; defaults to :data:`NAME_RULES`. A rule's score is
            the weighted mean z-score of its features (features absent from ``features`` are
            skipped).

    Returns:
        ``(n_clusters, len(segments))`` score matrix in z-score units.
    """
    rules = NAME_RULES if rules is None else rules
    col = {f: i for i, f in enumerate(features)}
    scores = np.zeros((centroids_z.shape[0], len(segments)))
    for j, seg in enumerate(segments):
        terms = [(col[f], w) for f, w in rules[seg].items() if f in col]
        if not terms:
            raise ValueError(f"no feature of the naming rule for {seg!r} is among {list(features)}")
        idx = np.array([i for i, _ in terms])
        w = np.array([w for _, w in terms])
        scores[:, j] = centroids_z[:, idx] @ w / np.abs(w).sum()
    return scores


def assign_names(scores: np.ndarray, segments: Sequence[str] = SEGMENTS) -> np.ndarray:
    """Give each cluster a segment name from a score matrix, each name used once where possible.

    The assignment maximises the total score (``scipy.optimize.linear_sum_assignment``). With
    more clusters than names, the extra clusters take the name with their highest score; with
    fewer, the lowest-scoring names stay unused.

    Returns:
        An object array of ``n_clusters`` names.
    """
    rows, cols = linear_sum_assignment(scores, maximize=True)
    names = np.empty(scores.shape[0], dtype=object)
    names[rows] = np.asarray(segments, dtype=object)[cols]
    unassigned = np.setdiff1d(np.arange(scores.shape[0]), rows)
    names[unassigned] = np.asarray(segments, dtype=object)[scores[unassigned].argmax(axis=1)]
    return names


def persona_evidence(X: pd.DataFrame) -> pd.DataFrame:
    """Whether each person's facts show each persona's defining behaviour (module docstring).

    Args:
        X: features from :func:`ml.features.build_features` (needs :data:`EVIDENCE_FEATURES`).

    Returns:
        Boolean frame indexed like ``X``, one column per name in :data:`SEGMENTS`.
    """
    missing = [f for f in EVIDENCE_FEATURES if f not in X.columns]
    if missing:
        raise ValueError(
            f"persona evidence needs feature columns {missing}; build X with "
            "ml.features.build_features"
        )
    # the all-history rates and shares are > 0 exactly when the person has such an event
    has_order = X["orders_per_100_active_days"] > 0
    has_ugc = X["ugc_share_all"] > 0
    used_coupon_or_discount = (
        (X["coupon_order_share_all"] > 0)
        | (X["discount_depth_mean_all"] > 0)
        | (X["coupon_claim_share_all"] > 0)
    )
    # refunded orders count as activity through days_since_last_active (as for the churn label)
    was_active = (
        has_order
        | (X["inbound_per_10_active_days"] > 0)
        | (X["days_since_last_active"] < NO_EVENT_DAYS)
    )
    stopped = X["days_since_last_active"] >= DORMANT_AFTER_DAYS
    evidence = pd.DataFrame(
        {
            "high_value_paying": has_order,
            "content_sharing": has_ugc,
            "price_sensitive": used_coupon_or_discount,
            "dormant": was_active & stopped,
        },
        index=X.index,
    )
    return evidence[list(SEGMENTS)]


def adjusted_rand(truth: Sequence | pd.Series, predicted: Sequence | pd.Series) -> float:
    """Adjusted Rand index between true and predicted labels (1 = identical partitions).

    When both are Series they are aligned on the index first (inner join).
    """
    if isinstance(truth, pd.Series) and isinstance(predicted, pd.Series):
        truth, predicted = truth.align(predicted, join="inner")
    return float(adjusted_rand_score(np.asarray(truth), np.asarray(predicted)))


def label_agreement(a: pd.Series, b: pd.Series) -> float:
    """Share of persons (common index) with the same label in ``a`` and ``b``."""
    a, b = a.align(b, join="inner")
    return float((a.to_numpy() == b.to_numpy()).mean()) if len(a) else float("nan")


class PersonaSegmenter(BaseEstimator):
    """KMeans persona segmentation with rule-based, retrain-stable cluster names.

    Parameters:
        n_clusters: number of KMeans clusters (4 = one per persona).
        random_state: seed for KMeans and the silhouette sample.
        n_init: KMeans restarts (at least 10).
        features: columns of ``X`` to cluster on; default :data:`SEGMENTATION_FEATURES`.
        silhouette_sample_size: persons sampled to compute ``silhouette_``.

    Attributes:
        features_: the columns used, in order.
        log_features_: the subset transformed with log1p.
        scaler_: the fitted ``StandardScaler`` (on the log1p-transformed features).
        kmeans_: the fitted ``KMeans``.
        cluster_centers_z_: centroids in standardised units, ``(n_clusters, n_features)``.
        cluster_names_: segment name of each cluster.
        name_scores_: the rule score matrix (clusters x :data:`SEGMENTS`).
        rule_names_: the names the rules alone would give (equals ``cluster_names_`` without
            ``previous``).
        previous_match_: for a fit with ``previous``, the matched previous cluster of each cluster;
            else None.
        previous_match_distance_: matched centroid distances in the previous model's z-units.
        silhouette_: silhouette score of the fit (sampled).
        cluster_sizes_: persons per segment (:data:`SEGMENT_VALUES`) in the training data.
    """

    def __init__(
        self,
        n_clusters: int = 4,
        random_state: int = 0,
        n_init: int = 10,
        features: Sequence[str] | None = None,
        silhouette_sample_size: int = 5000,
    ) -> None:
        self.n_clusters = n_clusters
        self.random_state = random_state
        self.n_init = n_init
        self.features = features
        self.silhouette_sample_size = silhouette_sample_size

    # -- transforms --------------------------------------------------------------------------
    def _raw(self, X: pd.DataFrame) -> np.ndarray:
        missing = [f for f in self.features_ if f not in X.columns]
        if missing:
            raise ValueError(
                f"PersonaSegmenter needs feature columns {missing}; build X with "
                "ml.features.build_features"
            )
        values = X.loc[:, list(self.features_)].to_numpy(dtype=float)
        if np.isnan(values).any():
            raise ValueError("PersonaSegmenter input has missing values; fill them first")
        logged = np.isin(np.asarray(self.features_), list(self.log_features_))
        values[:, logged] = np.log1p(np.clip(values[:, logged], 0.0, None))
        return values

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Standardised (log1p where skewed) feature matrix, ``(n_persons, n_features)``."""
        return self.scaler_.transform(self._raw(X))

    # -- fit / predict -----------------------------------------------------------------------
    def cannot_fit_reason(self, X: pd.DataFrame) -> str | None:
        """Why ``fit(X)`` cannot give ``n_clusters`` clusters (``None`` when it can).

        KMeans needs at least ``n_clusters`` persons with distinct values of the clustering
        features; with fewer, some clusters would be empty or duplicates and get arbitrary names.
        """
        features = list(self.features or SEGMENTATION_FEATURES)
        missing = [f for f in features if f not in X.columns]
        if missing:
            return f"feature columns {missing} are missing"
        if len(X) < self.n_clusters:
            return f"{len(X)} persons, need at least {self.n_clusters} (one per cluster)"
        distinct = len(X.loc[:, features].drop_duplicates())
        if distinct < self.n_clusters:
            return (
                f"{len(X)} persons show only {distinct} distinct behaviour profile(s), need at "
                f"least {self.n_clusters} (one per cluster)"
            )
        return None

    def fit(
        self, X: pd.DataFrame, y: None = None, *, previous: PersonaSegmenter | None = None
    ) -> PersonaSegmenter:
        """Fit on a feature frame (one row per person); names come from ``previous`` if given.

        Args:
            X: features from :func:`ml.features.build_features`.
            y: ignored.
            previous: the segmenter fitted at the last retrain; its names are carried over to the
                nearest new centroids so labels stay stable.
        """
        if y is not None:
            raise TypeError(
                "PersonaSegmenter.fit takes no labels; pass the last model as "
                "previous=<fitted PersonaSegmenter>"
            )
        if self.n_init < 10:
            raise ValueError("n_init must be at least 10 for stable KMeans solutions")
        reason = self.cannot_fit_reason(X)
        if reason:
            raise ValueError(f"PersonaSegmenter cannot fit: {reason}")
        self.features_ = tuple(self.features or SEGMENTATION_FEATURES)
        self.log_features_ = tuple(f for f in self.features_ if f in LOG_FEATURES)
        raw = self._raw(X)
        self.scaler_ = StandardScaler().fit(raw)
        Z = self.scaler_.transform(raw)
        self.kmeans_ = KMeans(
            n_clusters=self.n_clusters, n_init=self.n_init, random_state=self.random_state
        ).fit(Z)
        self.cluster_centers_z_ = self.kmeans_.cluster_centers_
        self.name_scores_ = centroid_name_scores(self.cluster_centers_z_, self.features_)
        self.rule_names_ = assign_names(self.name_scores_)
        self.previous_match_ = None
        self.previous_match_distance_ = None
        if previous is None:
            self.cluster_names_ = self.rule_names_
        else:
            self.cluster_names_ = self._names_from_previous(previous)

        labels = self.kmeans_.labels_
        n = Z.shape[0]
        if len(np.unique(labels)) > 1 and n > self.n_clusters:
            size = min(self.silhouette_sample_size, n)
            self.silhouette_ = float(
                silhouette_score(Z, labels, sample_size=size, random_state=self.random_state)
            )
        else:
            self.silhouette_ = float("nan")
        self.cluster_sizes_ = self.predict(X).value_counts().reindex(SEGMENT_VALUES, fill_value=0)
        return self

    def _names_from_previous(self, previous: PersonaSegmenter) -> np.ndarray:
        if tuple(previous.features_) != self.features_:
            raise ValueError("previous segmenter was fitted on different features; cannot match")
        # Centroids back to the raw (log1p) space, then into the previous model's z-space.
        centers_raw = self.scaler_.inverse_transform(self.cluster_centers_z_)
        centers_prev_z = previous.scaler_.transform(centers_raw)
        dist = np.linalg.norm(
            centers_prev_z[:, None, :] - previous.cluster_centers_z_[None, :, :], axis=2
        )
        rows, cols = linear_sum_assignment(dist)
        names = self.rule_names_.copy()
        match = np.full(self.n_clusters, -1)
        match[rows] = cols
        names[rows] = previous.cluster_names_[cols]
        self.previous_match_ = match
        self.previous_match_distance_ = np.where(
            match >= 0, dist[np.arange(len(match)), match], np.nan
        )
        return names

    def predict_cluster(self, X: pd.DataFrame) -> np.ndarray:
        """KMeans cluster number of each row."""
        return self.kmeans_.predict(self.transform(X))

    def predict_persona(self, X: pd.DataFrame) -> pd.Series:
        """The persona of each row's cluster, before the evidence rule (name ``segment``)."""
        names = self.cluster_names_[self.predict_cluster(X)]
        return pd.Series(names, index=X.index, name="segment", dtype=object)

    def predict(self, X: pd.DataFrame) -> pd.Series:
        """Segment of each row, a Series indexed like ``X`` (name ``segment``).

        The cluster's persona where the person's facts show its defining behaviour
        (:func:`persona_evidence`), else :data:`INSUFFICIENT_DATA`.
        """
        persona = self.predict_persona(X)
        evidence = persona_evidence(X)
        if evidence.empty:
            return persona
        columns = evidence.columns.get_indexer(persona.to_numpy())
        supported = evidence.to_numpy()[np.arange(len(persona)), columns]
        return persona.where(supported, INSUFFICIENT_DATA)

    def fit_predict(
        self, X: pd.DataFrame, y: None = None, *, previous: PersonaSegmenter | None = None
    ) -> pd.Series:
        """``fit(X, previous=previous).predict(X)``."""
        return self.fit(X, y, previous=previous).predict(X)

    def centroid_table(self) -> pd.DataFrame:
        """Centroids in original feature units (log1p undone), one row per cluster, with names."""
        raw = self.scaler_.inverse_transform(self.cluster_centers_z_)
        table = pd.DataFrame(raw, columns=list(self.features_))
        for f in self.log_features_:
            table[f] = np.expm1(table[f])
        table.insert(0, "segment", self.cluster_names_)
        table.index.name = "cluster"
        return table

"""Model assets: monthly training (segments, churn), daily scoring (segments, churn, CLV,
registration forecast) and the inbound message intents (before dbt). Each asset reads its inputs
through warehouse/, calls one workflow of ml/workflows/ and writes or reports its result; the
workflows hold the branches."""

import base64
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pandas as pd
from threadpoolctl import threadpool_limits

# Only the light names load with the definitions: the workflow modules import scikit-learn, scipy
# and matplotlib, so each asset imports its workflow when it runs (ml/workflows/__init__.py).
from ml.minimums import MIN_FORECAST_HISTORY_DAYS, MIN_REPEAT_BUYERS
from ml.workflows.contract import CHURN, SEGMENTATION
from orchestration.lib.dbt_translator import RAW_EXTRACTS_KEY
from orchestration.lib.partitions import run_window
from orchestration.lib.resources import SiyuSettingsResource, WarehouseResource
from warehouse.bounds import first_seen_at, scoring_cutoff
from warehouse.features import (
    read_clv_orders,
    read_features_at,
    read_person_features,
    read_registrations,
)
from warehouse.messages import (
    read_inbound_messages,
    read_intent_examples,
    scored_intent_version,
    write_intent_scores,
)
from warehouse.model_registry import ModelRegistry
from warehouse.tables import replace_table

if TYPE_CHECKING:
    from ml.workflows.churn import ChurnTraining
    from ml.workflows.segmentation import SegmentationTraining

# CHURN and SEGMENTATION are re-exported: the CLI and the publication assets name the models
__all__ = [
    "CHURN",
    "SEGMENTATION",
    "CHURN_MODEL_KEY",
    "PROMOTION_CHECK",
    "INBOUND_INTENTS_KEY",
    "SEGMENTATION_MODEL_KEY",
    "build_intent_assets",
    "build_scoring_assets",
    "build_training_assets",
]

FACT_KEYS = [
    dg.AssetKey(["marts", "fct_orders"]),
    dg.AssetKey(["marts", "fct_interactions"]),
    dg.AssetKey(["marts", "dim_users"]),
]
# The point-in-time features and churn labels per snapshot and person, computed by dbt from the
# facts (dbt_project/models/intermediate/models/int_models__person_features.sql): the segment and
# churn assets read one row per person and snapshot from it, never the facts.
PERSON_FEATURES_KEY = dg.AssetKey(["intermediate", "int_models__person_features"])
FEATURE_KEYS = [PERSON_FEATURES_KEY, dg.AssetKey(["marts", "dim_users"])]
SEGMENTATION_MODEL_KEY = dg.AssetKey(["models", "segmentation_model"])
CHURN_MODEL_KEY = dg.AssetKey(["models", "churn_model"])
PROMOTION_CHECK = "beats_recency_baseline"
INBOUND_INTENTS_KEY = dg.AssetKey(["ml", "inbound_message_intents"])


def _as_of(context: dg.AssetExecutionContext, con) -> pd.Timestamp:
    """Cutoff of a run: the day after its last partition day (the monthly partition of a
    training asset, the partition range of a daily run), never past the loaded data."""
    if context.has_partition_key:
        requested = pd.Timestamp(context.partition_time_window.end.date())
    else:
        window = run_window(context.run.tags)
        requested = pd.Timestamp(window[1]) if window else None
    return scoring_cutoff(con, requested)


def _md_table(frame: pd.DataFrame, floatfmt: str = ".3f") -> str:
    return frame.to_markdown(floatfmt=floatfmt) if len(frame) else "(empty)"


def _png_markdown(png: bytes) -> str:
    return f"![plot](data:image/png;base64,{base64.b64encode(png).decode()})"


def _registry(siyu: SiyuSettingsResource) -> ModelRegistry:
    return ModelRegistry(Path(siyu.models_dir))


def _one_thread():
    # one BLAS/OpenMP thread per step: the runs execute steps side by side in processes, and each
    # numeric library would otherwise start a thread per core in every one of them
    return threadpool_limits(1)


def _skipped_metadata(
    training: "SegmentationTraining | ChurnTraining", reason: str, **figures
) -> dict:
    """A training that could not run on this data (the registry recorded it), said in metadata."""
    return {
        "status": "skipped: not enough data to train",
        "reason": reason,
        **{k: ", ".join(v) if isinstance(v, list) else v for k, v in training.window.items()},
        **figures,
        "serving_version": training.serving_version or "none",
    }


def build_training_assets(monthly: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=SEGMENTATION_MODEL_KEY,
        deps=FEATURE_KEYS,
        partitions_def=monthly,
        group_name="models",
        kinds={"scikitlearn"},
        description="Monthly KMeans persona model (seed 3.1); names carried over from the previous "
        "model so labels stay stable across retrains. Skipped, with the reason in its metadata, "
        "while fewer persons (or distinct behaviour profiles) than clusters are loaded.",
    )
    def segmentation_model(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, siyu: SiyuSettingsResource
    ) -> dg.MaterializeResult:
        from ml.workflows.segmentation import train_segmentation

        with warehouse.connect(read_only=True) as con:
            as_of = _as_of(context, con)
            features = read_features_at(con, as_of)
        with _one_thread():
            training = train_segmentation(features, as_of, _registry(siyu))
        if training.skipped_reason:
            return dg.MaterializeResult(
                metadata=_skipped_metadata(
                    training, training.skipped_reason, persons=training.persons
                )
            )
        return dg.MaterializeResult(
            metadata={
                "status": "trained",
                "model_version": training.version,
                "silhouette": training.silhouette,
                "persons": training.persons,
                "labels_matched_to": training.labels_matched_to,
                "segment_sizes": dg.MetadataValue.md(_md_table(training.segment_sizes.to_frame())),
                "centroids": dg.MetadataValue.md(_md_table(training.centroids)),
            }
        )

    @dg.asset(
        key=CHURN_MODEL_KEY,
        deps=FEATURE_KEYS,
        partitions_def=monthly,
        group_name="models",
        kinds={"scikitlearn"},
        check_specs=[
            dg.AssetCheckSpec(
                PROMOTION_CHECK,
                asset=CHURN_MODEL_KEY,
                blocking=True,
                description="Promote only if the model beats the "
                "recency-only baseline on the validation snapshot. A month with too little "
                "history trains nothing: the check then warns with the reason (WARN, so the "
                "run succeeds) and nothing is promoted.",
            )
        ],
        description="Monthly churn classifier (gradient boosting, calibrated) trained on past "
        "monthly snapshots, validated on the latest complete one. Needs two monthly snapshots "
        "with complete 30-day windows (about three months of data); skipped with the reason "
        "in its metadata until then.",
    )
    def churn_model(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, siyu: SiyuSettingsResource
    ):
        from ml.workflows.churn import snapshots_to_read, train_churn

        with warehouse.connect(read_only=True) as con:
            as_of = _as_of(context, con)
            first_seen = first_seen_at(con)
            rows = read_person_features(con, snapshots_to_read(first_seen, as_of))
        with _one_thread():
            training = train_churn(rows, first_seen, as_of, _registry(siyu))
        if training.skipped_reason:
            yield dg.MaterializeResult(
                metadata=_skipped_metadata(training, training.skipped_reason)
            )
            # WARN: a month that cannot train is not a failed run, and it promotes nothing
            yield dg.AssetCheckResult(
                check_name=PROMOTION_CHECK,
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "reason": f"not trained, nothing promoted: {training.skipped_reason}",
                    "serving_version": training.serving_version or "none",
                },
            )
            return
        candidate, base = training.candidate, training.baseline
        yield dg.MaterializeResult(
            metadata={
                "status": "trained",
                "model_version": training.version,
                "promoted": training.promoted,
                "roc_auc": candidate["roc_auc"],
                "pr_auc": candidate["pr_auc"],
                "brier": candidate["brier"],
                "top_decile_lift": candidate["top_decile_lift"],
                "baseline_roc_auc": base["roc_auc"],
                "training_rows": training.training_rows,
                "validation_rows": training.validation_rows,
                "metrics": dg.MetadataValue.md(_md_table(training.metrics_table)),
                "calibration_plot": dg.MetadataValue.md(_png_markdown(training.calibration_png)),
            }
        )
        yield dg.AssetCheckResult(
            check_name=PROMOTION_CHECK,
            passed=training.promoted,
            metadata={
                "reason": training.promotion_reason,
                "model_roc_auc": candidate["roc_auc"],
                "baseline_roc_auc": base["roc_auc"],
                "model_brier": candidate["brier"],
                "baseline_brier": base["brier"],
                "model_version": training.version,
            },
        )

    return [segmentation_model, churn_model]


def build_scoring_assets() -> list[dg.AssetsDefinition]:
    """Daily scoring: unpartitioned assets holding the latest scores, as of the run's last day.

    Without a promoted model (too little data to train one yet) or anything to score, an asset
    writes its ml.* table empty, with the same columns and types, and says why in its metadata.
    """
    common = dict(group_name="models", kinds={"python", "duckdb"})

    @dg.asset(
        key=["ml", "user_segments"],
        deps=[*FEATURE_KEYS, SEGMENTATION_MODEL_KEY],
        description="Each person's persona from the promoted segmentation model, as of the run: "
        "the cluster's persona where the person's facts show its defining behaviour, else "
        "insufficient_data (ml/segmentation.py). Empty while no model is promoted.",
        **common,
    )
    def user_segments(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, siyu: SiyuSettingsResource
    ) -> dg.MaterializeResult:
        from ml.workflows.scoring import score_segments

        with warehouse.connect() as con:
            as_of = _as_of(context, con)
            with _one_thread():
                scores = score_segments(
                    lambda: read_features_at(con, as_of), as_of, _registry(siyu)
                )
            replace_table(con, "ml", scores.table, scores.frame)
        if scores.reason:
            return _empty_table_result(scores.as_of, scores.reason)
        return dg.MaterializeResult(
            metadata={
                "rows": len(scores.frame),
                "model_version": scores.version,
                "as_of": as_of.date().isoformat(),
                "insufficient_data_share": scores.insufficient_data_share,
                "segment_shares": dg.MetadataValue.md(_md_table(scores.segment_shares.to_frame())),
            }
        )

    @dg.asset(
        key=["ml", "user_churn_scores"],
        deps=[*FEATURE_KEYS, CHURN_MODEL_KEY],
        description="Daily churn probability (no order and no inbound interaction in the next "
        "30 days) and risk decile from the promoted churn model. Empty while no model is "
        "promoted.",
        **common,
    )
    def user_churn_scores(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, siyu: SiyuSettingsResource
    ) -> dg.MaterializeResult:
        from ml.workflows.scoring import score_churn

        with warehouse.connect() as con:
            as_of = _as_of(context, con)
            with _one_thread():
                scores = score_churn(lambda: read_features_at(con, as_of), as_of, _registry(siyu))
            replace_table(con, "ml", scores.table, scores.frame)
        if scores.reason:
            return _empty_table_result(scores.as_of, scores.reason)
        return dg.MaterializeResult(
            metadata={
                "rows": len(scores.frame),
                "model_version": scores.version,
                "as_of": as_of.date().isoformat(),
                "mean_churn_probability": scores.mean_churn_probability,
                "by_decile": dg.MetadataValue.md(_md_table(scores.by_decile)),
            }
        )

    @dg.asset(
        key=["ml", "user_clv"],
        deps=FACT_KEYS,
        description="BG/NBD + Gamma-Gamma (ml/clv.py) fitted daily on non-refunded orders: "
        "p_alive, expected orders and order value, discounted 365-day CLV. Empty while there "
        f"are fewer than {MIN_REPEAT_BUYERS} repeat buyers.",
        **common,
    )
    def user_clv(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        from ml.workflows.clv import TABLE, score_clv

        with warehouse.connect() as con:
            as_of = _as_of(context, con)
            with _one_thread():
                scores = score_clv(read_clv_orders(con, as_of), as_of)
            replace_table(con, "ml", TABLE, scores.frame)
        if scores.reason:
            return _empty_table_result(scores.as_of, scores.reason)
        return dg.MaterializeResult(
            metadata={
                "rows": len(scores.frame),
                "as_of": as_of.date().isoformat(),
                "repeat_buyers": scores.repeat_buyers,
                "fit_seconds": scores.fit_seconds,
                **{f"bgnbd_{k}": v for k, v in scores.bgnbd_params.items()},
                **{f"gamma_gamma_{k}": v for k, v in scores.gamma_gamma_params.items()},
                "total_clv_365d_cny": scores.total_clv_cny,
            }
        )

    @dg.asset(
        key=["ml", "registration_forecast"],
        deps=[dg.AssetKey(["marts", "dim_users"])],
        description="Daily registrations by first channel, 28 days ahead with 80% intervals, "
        "from the day after the last loaded day; a channel needs "
        f"{MIN_FORECAST_HISTORY_DAYS} days of history (empty until one has).",
        **common,
    )
    def registration_forecast(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        from ml.workflows.forecast import TABLE, forecast_registrations

        with warehouse.connect() as con:
            as_of = _as_of(context, con)
            forecast = forecast_registrations(read_registrations(con, as_of), as_of)
            replace_table(con, "ml", TABLE, forecast.frame)
        if forecast.reason:
            return _empty_table_result(forecast.as_of, forecast.reason)
        return dg.MaterializeResult(
            metadata={
                "rows": len(forecast.frame),
                "as_of": as_of.date().isoformat(),
                "history_last_date": forecast.history["date"].max().date().isoformat(),
                "forecast_first_date": forecast.frame["date"].min().date().isoformat(),
                "channels_without_enough_history": ", ".join(forecast.channels_not_ready) or "none",
                **{f"backtest_{k}": v for k, v in forecast.backtest_summary.items()},
                "backtest": dg.MetadataValue.md(_md_table(forecast.backtest)),
                "plot": dg.MetadataValue.md(_png_markdown(forecast.plot_png)),
            }
        )

    return [user_segments, user_churn_scores, user_clv, registration_forecast]


def _empty_table_result(as_of: pd.Timestamp, reason: str) -> dg.MaterializeResult:
    """The metadata of an ml.* table written empty (typed): why there is nothing in it."""
    return dg.MaterializeResult(
        metadata={"rows": 0, "as_of": as_of.date().isoformat(), "reason": reason}
    )


def build_intent_assets() -> list[dg.AssetsDefinition]:
    """The intent of every inbound WeCom message, between ingestion and dbt: dbt's consent
    (int_users__contactability) reads the unsubscribe requests it finds, and the marts
    inbound_message_intents and human_takeover_queue read it all."""

    @dg.asset(
        key=INBOUND_INTENTS_KEY,
        deps=[RAW_EXTRACTS_KEY],
        group_name="models",
        kinds={"scikitlearn", "duckdb"},
        description="Intent of each inbound WeCom message (purchase_intent, "
        "after_sales_complaint, question, chit_chat, unsubscribe_request; seed 2.3.3) from a "
        "character n-gram text model (ml/intent.py) trained on every run on the labelled "
        "examples of dbt_project/seeds/inbound_intent_examples.csv. An unchanged seed keeps the "
        "model version and classifies only new messages; an edited seed classifies all again.",
    )
    def inbound_message_intents(warehouse: WarehouseResource) -> dg.MaterializeResult:
        from ml.workflows.intent import score_intents

        examples = read_intent_examples()
        scored_at = pd.Timestamp.now(tz="Asia/Shanghai").tz_localize(None)
        with warehouse.connect() as con:
            with _one_thread():
                scores = score_intents(
                    examples,
                    lambda version: read_inbound_messages(con, not_scored_by=version),
                    scored_intent_version(con),
                    scored_at,
                )
            rows = write_intent_scores(con, scores.frame, replace=scores.replace)
        counts = scores.intent_counts.rename("new_messages").to_frame()
        counts["examples"] = scores.examples
        return dg.MaterializeResult(
            metadata={
                "rows": rows,
                "new_rows": len(scores.frame),
                "model_version": scores.model_version,
                "classified": "every message (new model version)"
                if scores.replace
                else "new messages only (same model version)",
                "training_examples": int(scores.examples.sum()),
                "new_takeover_messages": scores.takeover_rows,
                "low_confidence_share": scores.low_confidence_share,
                "by_intent": dg.MetadataValue.md(_md_table(counts, floatfmt=".0f")),
            }
        )

    return [inbound_message_intents]

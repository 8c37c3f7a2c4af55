"""Model assets: monthly training (segments, churn) and daily scoring (segments, churn, CLV,
registration forecast). The math is in `ml/`; these assets read, call and write."""

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd
from threadpoolctl import threadpool_limits

from ml.churn import (
    ChurnModel,
    RecencyBaseline,
    build_training_set,
    evaluate,
    monthly_snapshots,
    promotion_decision,
    risk_decile,
    temporal_split,
)
from ml.clv import score_buyers
from ml.features import FEATURE_NAMES, build_features
from ml.forecast import RegistrationForecaster, backtest, daily_registrations
from ml.plots import calibration_plot, forecast_plot
from ml.segmentation import SEGMENTATION_FEATURES, PersonaSegmenter
from orchestration.lib.model_registry import ModelRegistry, hash_frame
from orchestration.lib.partitions import run_window
from orchestration.lib.resources import SiyuSettingsResource, WarehouseResource
from orchestration.lib.warehouse_io import data_end, read_facts, replace_table

SEGMENTATION = "segmentation"
CHURN = "churn"
FACT_KEYS = [
    dg.AssetKey(["marts", "fct_orders"]),
    dg.AssetKey(["marts", "fct_interactions"]),
    dg.AssetKey(["marts", "dim_users"]),
]
SEGMENTATION_MODEL_KEY = dg.AssetKey(["models", "segmentation_model"])
CHURN_MODEL_KEY = dg.AssetKey(["models", "churn_model"])
PROMOTION_CHECK = "beats_recency_baseline"
# The CLV horizon and discounting (daily BG/NBD): 365 days in monthly steps at 1% a month.
CLV_HORIZON_DAYS = 365
CLV_MONTHLY_DISCOUNT = 0.01
MIN_FORECAST_HISTORY_DAYS = 14


def _as_of(context: dg.AssetExecutionContext, con) -> pd.Timestamp:
    """Cutoff of a run: the day after its last partition day, never past the loaded data."""
    loaded_end = data_end(con)
    if context.has_partition_key:  # the monthly training assets
        return min(pd.Timestamp(context.partition_time_window.end.date()), loaded_end)
    window = run_window(context.run.tags)
    return min(pd.Timestamp(window[1]), loaded_end) if window else loaded_end


def _md_table(frame: pd.DataFrame, floatfmt: str = ".3f") -> str:
    return frame.to_markdown(floatfmt=floatfmt) if len(frame) else "(empty)"


def _registry(siyu: SiyuSettingsResource) -> ModelRegistry:
    return ModelRegistry(Path(siyu.models_dir))


def build_training_assets(monthly: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=SEGMENTATION_MODEL_KEY,
        deps=FACT_KEYS,
        partitions_def=monthly,
        group_name="models",
        kinds={"scikitlearn"},
        description="Monthly KMeans persona model (seed 3.1); names carried over from the previous "
        "model so labels stay stable across retrains.",
    )
    def segmentation_model(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, siyu: SiyuSettingsResource
    ) -> dg.MaterializeResult:
        with warehouse.connect(read_only=True) as con:
            as_of = _as_of(context, con)
            orders, interactions, users = read_facts(con)
        with threadpool_limits(1):
            X = build_features(orders, interactions, users, as_of.date())
            registry = _registry(siyu)
            previous_version = registry.promoted_version(SEGMENTATION)
            previous = registry.load(SEGMENTATION, previous_version) if previous_version else None
            model = PersonaSegmenter(random_state=0)
            if previous is not None and list(previous.features_) != list(
                model.features or SEGMENTATION_FEATURES
            ):
                # a new feature set cannot be matched to the old centroids: start a new lineage
                previous_version, previous = f"none ({previous_version} used other features)", None
            model.fit(X, previous=previous)
        sizes = model.predict(X).value_counts().rename_axis("segment").rename("persons")
        version = registry.save(
            SEGMENTATION,
            model,
            training_window={"as_of": as_of.date().isoformat()},
            features=list(model.features or X.columns),
            params=model.get_params(),
            metrics={
                "silhouette": float(model.silhouette_),
                "persons": int(len(X)),
                "segment_sizes": sizes.to_dict(),
            },
            training_data_hash=hash_frame(X),
        )
        registry.mark_promoted(
            SEGMENTATION, version, reason="segmentation models are promoted on training"
        )
        return dg.MaterializeResult(
            metadata={
                "model_version": version,
                "silhouette": float(model.silhouette_),
                "persons": len(X),
                "labels_matched_to": previous_version or "none (first model)",
                "segment_sizes": dg.MetadataValue.md(_md_table(sizes.to_frame())),
                "centroids": dg.MetadataValue.md(_md_table(model.centroid_table())),
            }
        )

    @dg.asset(
        key=CHURN_MODEL_KEY,
        deps=FACT_KEYS,
        partitions_def=monthly,
        group_name="models",
        kinds={"scikitlearn"},
        check_specs=[
            dg.AssetCheckSpec(
                PROMOTION_CHECK,
                asset=CHURN_MODEL_KEY,
                blocking=True,
                description="Promote only if the model beats the "
                "recency-only baseline on the validation snapshot.",
            )
        ],
        description="Monthly churn classifier (gradient boosting, calibrated) trained on past "
        "monthly snapshots, validated on the latest complete one.",
    )
    def churn_model(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, siyu: SiyuSettingsResource
    ):
        with warehouse.connect(read_only=True) as con:
            as_of = _as_of(context, con)
            orders, interactions, users = read_facts(con, before=as_of)
        first = pd.Timestamp(users["first_seen_at"].min()).normalize()
        snapshots = monthly_snapshots(first, as_of, horizon_days=30)
        if len(snapshots) < 2:
            reason = f"not enough history before {as_of.date()}: {len(snapshots)} complete monthly snapshot(s), need 2"
            yield dg.MaterializeResult(metadata={"status": reason})
            yield dg.AssetCheckResult(
                check_name=PROMOTION_CHECK, passed=False, metadata={"reason": reason}
            )
            return
        with threadpool_limits(1):
            training = build_training_set(orders, interactions, users, snapshots, data_end=as_of)
            train, valid = temporal_split(training, snapshots[-1])
            features = list(FEATURE_NAMES)
            model = ChurnModel(random_state=0).fit(train[features], train["churned"])
            baseline = RecencyBaseline().fit(train[features], train["churned"])
            candidate = evaluate(valid["churned"], model.predict_proba(valid[features])[:, 1])
            base = evaluate(valid["churned"], baseline.predict_proba(valid[features])[:, 1])
        promote, reason = promotion_decision(candidate, base)
        registry = _registry(siyu)
        version = registry.save(
            CHURN,
            model,
            training_window={
                "snapshots": [s.date().isoformat() for s in snapshots[:-1]],
                "validation_snapshot": snapshots[-1].date().isoformat(),
                "data_end": as_of.date().isoformat(),
            },
            features=features,
            params=model.get_params(),
            metrics={
                "candidate": candidate,
                "baseline": base,
                "promoted": promote,
                "reason": reason,
            },
            training_data_hash=hash_frame(train[features + ["churned"]]),
        )
        if promote:
            registry.mark_promoted(CHURN, version, reason=reason)
        summary = pd.DataFrame(
            {
                k: {m: v[m] for m in ("roc_auc", "pr_auc", "brier", "top_decile_lift")}
                for k, v in (("model", candidate), ("recency_baseline", base))
            }
        )
        yield dg.MaterializeResult(
            metadata={
                "model_version": version,
                "promoted": promote,
                "roc_auc": candidate["roc_auc"],
                "pr_auc": candidate["pr_auc"],
                "brier": candidate["brier"],
                "top_decile_lift": candidate["top_decile_lift"],
                "baseline_roc_auc": base["roc_auc"],
                "training_rows": len(train),
                "validation_rows": len(valid),
                "metrics": dg.MetadataValue.md(_md_table(summary)),
                "calibration_plot": dg.MetadataValue.md(
                    _png_markdown(
                        calibration_plot(candidate["calibration"], title=f"Calibration {version}")
                    )
                ),
            }
        )
        yield dg.AssetCheckResult(
            check_name=PROMOTION_CHECK,
            passed=bool(promote),
            metadata={
                "reason": reason,
                "model_roc_auc": candidate["roc_auc"],
                "baseline_roc_auc": base["roc_auc"],
                "model_brier": candidate["brier"],
                "baseline_brier": base["brier"],
                "model_version": version,
            },
        )

    return [segmentation_model, churn_model]


def _png_markdown(png: bytes) -> str:
    import base64

    return f"![plot](data:image/png;base64,{base64.b64encode(png).decode()})"


def build_scoring_assets() -> list[dg.AssetsDefinition]:
    """Daily scoring: unpartitioned assets holding the latest scores, as of the run's last day."""
    common = dict(group_name="models", kinds={"python", "duckdb"})

    @dg.asset(
        key=["ml", "user_segments"],
        deps=[*FACT_KEYS, SEGMENTATION_MODEL_KEY],
        description="Each person's persona from the promoted segmentation model, as of the run.",
        **common,
    )
    def user_segments(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, siyu: SiyuSettingsResource
    ) -> dg.MaterializeResult:
        registry = _registry(siyu)
        version = _promoted_or_fail(registry, SEGMENTATION)
        model = registry.load(SEGMENTATION, version)
        with warehouse.connect() as con:
            as_of = _as_of(context, con)
            orders, interactions, users = read_facts(con, before=as_of)
            X = build_features(orders, interactions, users, as_of.date())
            frame = pd.DataFrame(
                {
                    "person_id": X.index,
                    "segment": model.predict(X).to_numpy(),
                    "model_version": version,
                    "scored_at": as_of,
                }
            )
            replace_table(con, "ml", "user_segments", frame)
        sizes = frame["segment"].value_counts()
        return dg.MaterializeResult(
            metadata={
                "rows": len(frame),
                "model_version": version,
                "as_of": as_of.date().isoformat(),
                "segment_shares": dg.MetadataValue.md(
                    _md_table((sizes / sizes.sum()).to_frame("share"))
                ),
            }
        )

    @dg.asset(
        key=["ml", "user_churn_scores"],
        deps=[*FACT_KEYS, CHURN_MODEL_KEY],
        description="Daily churn probability (no order and no inbound interaction in the next "
        "30 days) and risk decile from the promoted churn model.",
        **common,
    )
    def user_churn_scores(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, siyu: SiyuSettingsResource
    ) -> dg.MaterializeResult:
        registry = _registry(siyu)
        version = _promoted_or_fail(registry, CHURN)
        model = registry.load(CHURN, version)
        with warehouse.connect() as con:
            as_of = _as_of(context, con)
            orders, interactions, users = read_facts(con, before=as_of)
            with threadpool_limits(1):
                X = build_features(orders, interactions, users, as_of.date())
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
            replace_table(con, "ml", "user_churn_scores", frame)
        by_decile = frame.groupby("risk_decile")["churn_probability"].agg(["count", "mean"])
        return dg.MaterializeResult(
            metadata={
                "rows": len(frame),
                "model_version": version,
                "as_of": as_of.date().isoformat(),
                "mean_churn_probability": float(frame["churn_probability"].mean()),
                "by_decile": dg.MetadataValue.md(_md_table(by_decile)),
            }
        )

    @dg.asset(
        key=["ml", "user_clv"],
        deps=FACT_KEYS,
        description="BG/NBD + Gamma-Gamma (ml/clv.py) fitted daily on non-refunded orders: "
        "p_alive, expected orders and order value, discounted 365-day CLV.",
        **common,
    )
    def user_clv(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        with warehouse.connect() as con:
            as_of = _as_of(context, con)
            orders = con.execute(
                "select person_id, ordered_at, amount from marts.fct_orders "
                "where not is_refunded and ordered_at < ?",
                [as_of.to_pydatetime()],
            ).df()
            orders["amount"] = orders["amount"].astype(float)
            # orders are strictly before as_of, so every buyer's age T is at least one day
            started = dt.datetime.now()
            with threadpool_limits(1):
                scores, bgf, ggf = score_buyers(
                    orders.rename(columns={"person_id": "customer_id"}), as_of,
                    horizon_days=CLV_HORIZON_DAYS, monthly_discount_rate=CLV_MONTHLY_DISCOUNT,
                )
            fit_seconds = (dt.datetime.now() - started).total_seconds()
            frame = scores.rename_axis("person_id").reset_index().assign(clv_as_of=as_of)
            replace_table(con, "ml", "user_clv", frame)
        return dg.MaterializeResult(
            metadata={
                "rows": len(frame),
                "fit_seconds": fit_seconds,
                **{f"bgnbd_{k}": float(v) for k, v in bgf.params_.items()},
                **{f"gamma_gamma_{k}": float(v) for k, v in (ggf.params_ if ggf else {}).items()},
                "total_clv_365d_cny": float(frame["clv_365d"].sum()),
            }
        )

    @dg.asset(
        key=["ml", "registration_forecast"],
        deps=[dg.AssetKey(["marts", "dim_users"])],
        description="Daily registrations by first channel, 28 days ahead with 80% intervals; "
        "backtest against a seasonal-naive baseline in metadata.",
        **common,
    )
    def registration_forecast(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        with warehouse.connect() as con:
            as_of = _as_of(context, con)
            # a registration is a person's first appearance, by the channel they came through
            users = con.execute(
                "select person_id, first_seen_at as registered_at, first_channel "
                "from marts.dim_users where first_seen_at < ?",
                [as_of.to_pydatetime()],
            ).df()
            daily = daily_registrations(users, end_date=as_of - pd.Timedelta(days=1))
            # a channel needs two weeks of history for its day-of-week pattern
            days_per_channel = daily.groupby("channel")["date"].nunique()
            ready = days_per_channel[days_per_channel >= MIN_FORECAST_HISTORY_DAYS].index
            daily = daily[daily["channel"].isin(ready)]
            if daily.empty:
                forecast = pd.DataFrame(
                    {
                        "date": pd.Series(dtype="datetime64[ns]"),
                        "channel": pd.Series(dtype="string"),
                        **{c: pd.Series(dtype=float) for c in ("forecast", "lower_80", "upper_80")},
                    }
                )
            else:
                forecast = (
                    RegistrationForecaster(horizon_days=28, interval=0.8).fit(daily).predict()
                )
            forecast["generated_at"] = as_of
            replace_table(con, "ml", "registration_forecast", forecast)
        if daily.empty:
            return dg.MaterializeResult(
                metadata={
                    "rows": 0,
                    "as_of": as_of.date().isoformat(),
                    "note": f"no channel has {MIN_FORECAST_HISTORY_DAYS} days of history yet",
                }
            )
        # backtest each channel with enough history (3 folds of 28 days plus 8 weeks to fit)
        folds = []
        for channel, group in daily.groupby("channel"):
            series = group.set_index("date")["registrations"]
            if len(series) >= 3 * 28 + 56:
                folds.append(backtest(series, horizon=28, folds=3).assign(channel=channel))
        scores = pd.concat(folds, ignore_index=True) if folds else pd.DataFrame()
        summary = scores.mean(numeric_only=True).drop(["fold", "n_train_days"], errors="ignore")
        png = forecast_plot(
            daily, forecast, title=f"Registrations by channel, forecast from {as_of.date()}"
        )
        return dg.MaterializeResult(
            metadata={
                "rows": len(forecast),
                "as_of": as_of.date().isoformat(),
                **{f"backtest_{k}": float(v) for k, v in summary.items()},
                "backtest": dg.MetadataValue.md(_md_table(scores)),
                "plot": dg.MetadataValue.md(_png_markdown(png)),
            }
        )

    return [user_segments, user_churn_scores, user_clv, registration_forecast]


def _promoted_or_fail(registry: ModelRegistry, name: str) -> str:
    version = registry.promoted_version(name)
    if not version:
        raise dg.Failure(
            description=f"no promoted {name} model in {registry.root}: run the "
            "monthly_models job (`siyu run` does so on a first run)"
        )
    return version

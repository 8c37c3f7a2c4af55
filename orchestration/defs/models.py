"""Model assets: monthly training (segments, churn) and daily scoring (segments, churn, CLV,
registration forecast). The math is in `ml/`; these assets read, call and write."""

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd
from threadpoolctl import threadpool_limits

# The models' libraries (scikit-learn, scipy, matplotlib) are imported inside the assets that use
# them: loading the definitions (the UI, every `siyu` command, each run) never pays for them.
from ml.features import FEATURE_NAMES
from ml.minimums import MIN_REPEAT_BUYERS
from orchestration.lib.partitions import run_window
from orchestration.lib.resources import SiyuSettingsResource, WarehouseResource
from warehouse.bounds import data_end, first_seen_at
from warehouse.features import read_features_at, read_person_features
from warehouse.model_registry import ModelRegistry, hash_frame
from warehouse.tables import replace_table

SEGMENTATION = "segmentation"
CHURN = "churn"
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
# The CLV horizon and discounting (daily BG/NBD): 365 days in monthly steps at 1% a month.
CLV_HORIZON_DAYS = 365
CLV_MONTHLY_DISCOUNT = 0.01
MIN_FORECAST_HISTORY_DAYS = 14

# Column types of the ml.* tables, the same whether a table holds scores or is empty because
# there is no model yet, so the dbt after-ML marts build either way.
ML_TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "user_segments": {
        "person_id": "str",
        "segment": "str",
        "model_version": "str",
        "scored_at": "datetime64[us]",
    },
    "user_churn_scores": {
        "person_id": "str",
        "churn_probability": "float64",
        "risk_decile": "int64",
        "model_version": "str",
        "scored_at": "datetime64[us]",
    },
    "user_clv": {
        "person_id": "str",
        "p_alive": "float64",
        f"expected_orders_{CLV_HORIZON_DAYS}d": "float64",
        "expected_order_value": "float64",
        f"clv_{CLV_HORIZON_DAYS}d": "float64",
        "clv_as_of": "datetime64[us]",
    },
    "registration_forecast": {
        "date": "datetime64[us]",
        "channel": "str",
        "forecast": "float64",
        "lower_80": "float64",
        "upper_80": "float64",
        "generated_at": "datetime64[us]",
    },
}


def _ml_frame(table: str, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """`frame` with the columns and types of ml.<table> (none given: the empty table)."""
    columns = ML_TABLE_COLUMNS[table]
    if frame is None:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    return frame.loc[:, list(columns)].astype(columns).reset_index(drop=True)


def _as_of(context: dg.AssetExecutionContext, con) -> pd.Timestamp:
    """Cutoff of a run: the day after its last partition day, never past the loaded data."""
    loaded_end = data_end(con)
    if pd.isna(loaded_end):
        # no order and no interaction at all (a brand with members only): the persons' days
        last_seen = con.execute("select max(first_seen_at) from marts.dim_users").fetchone()[0]
        loaded_end = (
            pd.Timestamp(last_seen).normalize() + pd.Timedelta(days=1) if last_seen else pd.NaT
        )
    if context.has_partition_key:  # the monthly training assets
        end = pd.Timestamp(context.partition_time_window.end.date())
    else:
        window = run_window(context.run.tags)
        end = pd.Timestamp(window[1]) if window else loaded_end
    if pd.isna(loaded_end):
        return end if not pd.isna(end) else pd.Timestamp.now().normalize()
    return min(end, loaded_end)


def _md_table(frame: pd.DataFrame, floatfmt: str = ".3f") -> str:
    return frame.to_markdown(floatfmt=floatfmt) if len(frame) else "(empty)"


def _registry(siyu: SiyuSettingsResource) -> ModelRegistry:
    return ModelRegistry(Path(siyu.models_dir))


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
        from ml.segmentation import SEGMENTATION_FEATURES, PersonaSegmenter

        with warehouse.connect(read_only=True) as con:
            as_of = _as_of(context, con)
            X = read_features_at(con, as_of)
        registry = _registry(siyu)
        window = {"as_of": as_of.date().isoformat()}
        with threadpool_limits(1):
            model = PersonaSegmenter(random_state=0)
            reason = model.cannot_fit_reason(X)
            if reason:
                return _skipped(registry, SEGMENTATION, reason, window, persons=len(X))
            previous_version = registry.promoted_version(SEGMENTATION)
            previous = registry.load(SEGMENTATION, previous_version) if previous_version else None
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
            training_window=window,
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
                "status": "trained",
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
        from ml.churn import (
            ChurnModel,
            RecencyBaseline,
            evaluate,
            promotion_decision,
            split_from_snapshots,
            training_snapshots,
        )
        from ml.plots import calibration_plot

        with warehouse.connect(read_only=True) as con:
            as_of = _as_of(context, con)
            first_seen = first_seen_at(con)
            snapshots = training_snapshots(first_seen, as_of)
            # one snapshot cannot train: its rows are not read
            rows = read_person_features(con, snapshots if len(snapshots) >= 2 else [])
        registry = _registry(siyu)
        split = split_from_snapshots(rows, first_seen_at=first_seen, data_end=as_of)
        if split.cannot_train_reason:
            reason = split.cannot_train_reason
            window = {
                "snapshots": [s.date().isoformat() for s in split.snapshots],
                "data_end": as_of.date().isoformat(),
            }
            yield _skipped(registry, CHURN, reason, window)
            # WARN: a month that cannot train is not a failed run, and it promotes nothing
            yield dg.AssetCheckResult(
                check_name=PROMOTION_CHECK,
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "reason": f"not trained, nothing promoted: {reason}",
                    "serving_version": registry.promoted_version(CHURN) or "none",
                },
            )
            return
        snapshots, train, valid = split.snapshots, split.train, split.valid
        with threadpool_limits(1):
            features = list(FEATURE_NAMES)
            model = ChurnModel(random_state=0).fit(train[features], train["churned"])
            baseline = RecencyBaseline().fit(train[features], train["churned"])
            candidate = evaluate(valid["churned"], model.predict_proba(valid[features])[:, 1])
            base = evaluate(valid["churned"], baseline.predict_proba(valid[features])[:, 1])
        promote, reason = promotion_decision(candidate, base)
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
                "status": "trained",
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


def _skipped(
    registry: ModelRegistry, name: str, reason: str, window: dict, **figures
) -> dg.MaterializeResult:
    """A training that cannot run on this data: recorded in the registry, said in metadata."""
    registry.record_skipped(name, reason=reason, training_window=window)
    return dg.MaterializeResult(
        metadata={
            "status": "skipped: not enough data to train",
            "reason": reason,
            **_window_metadata(window),
            **figures,
            "serving_version": registry.promoted_version(name) or "none",
        }
    )


def _window_metadata(window: dict) -> dict:
    return {k: ", ".join(v) if isinstance(v, list) else v for k, v in window.items()}


def _no_model_reason(registry: ModelRegistry, name: str) -> str:
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


def _png_markdown(png: bytes) -> str:
    import base64

    return f"![plot](data:image/png;base64,{base64.b64encode(png).decode()})"


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
        from ml.segmentation import INSUFFICIENT_DATA, SEGMENT_VALUES

        registry = _registry(siyu)
        version = registry.promoted_version(SEGMENTATION)
        with warehouse.connect() as con:
            as_of = _as_of(context, con)
            if not version:
                return _write_empty(
                    con,
                    "user_segments",
                    as_of,
                    f"no promoted {SEGMENTATION} model: {_no_model_reason(registry, SEGMENTATION)}",
                )
            X = read_features_at(con, as_of)
            if X.empty:
                return _write_empty(
                    con, "user_segments", as_of, f"no person first seen before {as_of.date()}"
                )
            model = registry.load(SEGMENTATION, version)
            frame = _ml_frame(
                "user_segments",
                pd.DataFrame(
                    {
                        "person_id": X.index,
                        "segment": model.predict(X).to_numpy(),
                        "model_version": version,
                        "scored_at": as_of,
                    }
                ),
            )
            replace_table(con, "ml", "user_segments", frame)
        sizes = frame["segment"].value_counts().reindex(SEGMENT_VALUES, fill_value=0)
        return dg.MaterializeResult(
            metadata={
                "rows": len(frame),
                "model_version": version,
                "as_of": as_of.date().isoformat(),
                "insufficient_data_share": float(sizes[INSUFFICIENT_DATA] / max(sizes.sum(), 1)),
                "segment_shares": dg.MetadataValue.md(
                    _md_table((sizes / sizes.sum()).to_frame("share"))
                ),
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
        from ml.churn import risk_decile

        registry = _registry(siyu)
        version = registry.promoted_version(CHURN)
        with warehouse.connect() as con:
            as_of = _as_of(context, con)
            if not version:
                return _write_empty(
                    con,
                    "user_churn_scores",
                    as_of,
                    f"no promoted {CHURN} model: {_no_model_reason(registry, CHURN)}",
                )
            X = read_features_at(con, as_of)
            with threadpool_limits(1):
                if X.empty:
                    return _write_empty(
                        con,
                        "user_churn_scores",
                        as_of,
                        f"no person first seen before {as_of.date()}",
                    )
                model = registry.load(CHURN, version)
                p = model.churn_probability(X[list(FEATURE_NAMES)])
            frame = _ml_frame(
                "user_churn_scores",
                pd.DataFrame(
                    {
                        "person_id": X.index,
                        "churn_probability": p.to_numpy(),
                        "risk_decile": risk_decile(p).to_numpy(),
                        "model_version": version,
                        "scored_at": as_of,
                    }
                ),
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
        "p_alive, expected orders and order value, discounted 365-day CLV. Empty while there "
        f"are fewer than {MIN_REPEAT_BUYERS} repeat buyers.",
        **common,
    )
    def user_clv(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        from ml.clv import cannot_score_reason, score_buyers

        with warehouse.connect() as con:
            as_of = _as_of(context, con)
            orders = con.execute(
                "select person_id as customer_id, ordered_at, amount from marts.fct_orders "
                "where not is_refunded and ordered_at < ?",
                [as_of.to_pydatetime()],
            ).df()
            orders["amount"] = orders["amount"].astype(float)
            reason = cannot_score_reason(orders, as_of)
            if reason:
                return _write_empty(con, "user_clv", as_of, f"CLV not fitted: {reason}")
            # orders are strictly before as_of, so every buyer's age T is at least one day
            started = dt.datetime.now()
            with threadpool_limits(1):
                scores, bgf, ggf = score_buyers(
                    orders,
                    as_of,
                    horizon_days=CLV_HORIZON_DAYS,
                    monthly_discount_rate=CLV_MONTHLY_DISCOUNT,
                )
            fit_seconds = (dt.datetime.now() - started).total_seconds()
            frame = _ml_frame(
                "user_clv",
                scores.rename_axis("person_id").reset_index().assign(clv_as_of=as_of),
            )
            replace_table(con, "ml", "user_clv", frame)
        return dg.MaterializeResult(
            metadata={
                "rows": len(frame),
                "as_of": as_of.date().isoformat(),
                "repeat_buyers": int(ggf.n_customers_),
                "fit_seconds": fit_seconds,
                **{f"bgnbd_{k}": float(v) for k, v in bgf.params_.items()},
                **{f"gamma_gamma_{k}": float(v) for k, v in ggf.params_.items()},
                "total_clv_365d_cny": float(frame[f"clv_{CLV_HORIZON_DAYS}d"].sum()),
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
        from ml.forecast import RegistrationForecaster, backtest, daily_registrations
        from ml.plots import forecast_plot

        with warehouse.connect() as con:
            as_of = _as_of(context, con)
            # a registration is a person's first appearance, by the channel they came through
            users = con.execute(
                "select person_id, first_seen_at as registered_at, first_channel "
                "from marts.dim_users where first_seen_at < ?",
                [as_of.to_pydatetime()],
            ).df()
            # the history runs up to and including the last loaded day (as_of is exclusive)
            daily = daily_registrations(users, end_date=as_of)
            # a channel needs two weeks of history for its day-of-week pattern
            days_per_channel = daily.groupby("channel")["date"].nunique()
            ready = days_per_channel[days_per_channel >= MIN_FORECAST_HISTORY_DAYS].index
            daily = daily[daily["channel"].isin(ready)]
            if daily.empty:
                return _write_empty(
                    con,
                    "registration_forecast",
                    as_of,
                    f"no channel has {MIN_FORECAST_HISTORY_DAYS} days of registrations before "
                    f"{as_of.date()} yet ({int(days_per_channel.max()) if len(days_per_channel) else 0} "
                    "days so far)",
                )
            forecast = RegistrationForecaster(horizon_days=28, interval=0.8).fit(daily).predict()
            frame = _ml_frame("registration_forecast", forecast.assign(generated_at=as_of))
            replace_table(con, "ml", "registration_forecast", frame)
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
                "rows": len(frame),
                "as_of": as_of.date().isoformat(),
                "history_last_date": daily["date"].max().date().isoformat(),
                "forecast_first_date": frame["date"].min().date().isoformat(),
                "channels_without_enough_history": ", ".join(
                    sorted(set(days_per_channel.index) - set(ready))
                )
                or "none",
                **{f"backtest_{k}": float(v) for k, v in summary.items()},
                "backtest": dg.MetadataValue.md(_md_table(scores)),
                "plot": dg.MetadataValue.md(_png_markdown(png)),
            }
        )

    return [user_segments, user_churn_scores, user_clv, registration_forecast]


def _write_empty(con, table: str, as_of: pd.Timestamp, reason: str) -> dg.MaterializeResult:
    """Replace ml.<table> with the empty, typed table and say why there is nothing in it."""
    replace_table(con, "ml", table, _ml_frame(table))
    return dg.MaterializeResult(
        metadata={"rows": 0, "as_of": as_of.date().isoformat(), "reason": reason}
    )

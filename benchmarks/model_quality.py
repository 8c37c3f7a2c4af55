"""Model quality against the generator's planted truth, on a finished `siyu run`.

    python benchmarks/model_quality.py [DATA_DIR]

Prints: the promoted churn model's validation ROC AUC and PR AUC (from its manifest), the recency
baseline's, and the oracle AUC of the planted hazards on the same validation snapshot (persons
already churned by the snapshot get probability 1; others 1 - (1 - hazard)^30); the adjusted Rand
index of the published segments against the planted personas; the BG/NBD fit time.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ml.churn import churn_labels, oracle_auc
from ml.clv import BetaGeoFitter, GammaGammaFitter, rfm_summary
from ml.segmentation import adjusted_rand
from warehouse.features import read_facts
from warehouse.model_registry import ModelRegistry


def person_truth(con, truth_ids: pd.DataFrame) -> pd.Series:
    """person_id -> true_person_id by majority over the person's identifiers."""
    mapped = con.execute(
        "select id_type, id_value, person_id from intermediate.identity_map "
        "where person_id is not null"
    ).df()
    joined = mapped.merge(
        truth_ids.dropna(subset=["true_person_id"]).drop_duplicates(["id_type", "id_value"]),
        on=["id_type", "id_value"],
    )
    top = joined.groupby(["person_id", "true_person_id"]).size().rename("n").reset_index()
    top = top.sort_values("n", ascending=False).drop_duplicates("person_id")
    return top.set_index("person_id")["true_person_id"]


def main(data_dir: Path) -> None:
    truth_dir = data_dir / "landing" / "_truth"
    persons = pd.read_parquet(truth_dir / "persons.parquet").set_index("true_person_id")
    warehouse = Path(os.environ.get("SIYU_WAREHOUSE_PATH") or data_dir / "warehouse.duckdb")
    registry = ModelRegistry(Path(os.environ.get("SIYU_MODELS_DIR") or data_dir / "models"))
    with duckdb.connect(str(warehouse), read_only=True) as con:
        to_truth = person_truth(con, pd.read_parquet(truth_dir / "identities.parquet"))
        segments = con.execute("select person_id, segment from marts.user_segments").df()
        orders, interactions, users = read_facts(con)

    seg = segments.assign(true_person_id=segments["person_id"].map(to_truth)).dropna()
    ari = adjusted_rand(
        persons.loc[seg["true_person_id"], "persona"].reset_index(drop=True),
        seg["segment"].reset_index(drop=True),
    )
    print(f"segmentation ARI vs planted personas: {ari:.3f} on {len(seg)} persons")

    manifest = registry.manifest("churn", registry.promoted_version("churn"))
    metrics, window = manifest["metrics"], manifest["training_window"]
    snapshot = pd.Timestamp(window["validation_snapshot"])
    y = churn_labels(orders, interactions, users, snapshot, data_end=window["data_end"])
    true_ids = y.index.map(to_truth)
    keep = ~pd.isna(true_ids)
    hazard = persons.loc[true_ids[keep], "churn_hazard"].to_numpy()
    churned_after = pd.to_datetime(persons.loc[true_ids[keep], "churned_after"]).to_numpy()
    already = churned_after < np.datetime64(snapshot)
    oracle_p = np.where(already, 1.0, 1 - (1 - hazard) ** 30)
    print(
        f"churn validation snapshot {snapshot.date()}: model ROC AUC {metrics['candidate']['roc_auc']:.3f} "
        f"(PR AUC {metrics['candidate']['pr_auc']:.3f}, Brier {metrics['candidate']['brier']:.3f}), "
        f"recency baseline {metrics['baseline']['roc_auc']:.3f}, "
        f"oracle {oracle_auc(y[keep].to_numpy(), oracle_p):.3f} on {int(keep.sum())} persons"
    )

    buyers = orders[~orders["is_refunded"]]
    end = pd.Timestamp(buyers["ordered_at"].max()).normalize() + pd.Timedelta(days=1)
    summary = rfm_summary(buyers, "person_id", "ordered_at", "amount", end, freq="D")
    started = time.perf_counter()
    BetaGeoFitter(penalizer_coef=0.001).fit(summary["frequency"], summary["recency"], summary["T"])
    GammaGammaFitter(penalizer_coef=0.001).fit(summary["frequency"], summary["monetary_value"])
    print(
        f"BG/NBD + Gamma-Gamma fit on {len(summary)} buyers: {time.perf_counter() - started:.2f} s"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SIYU_DATA_DIR", "data")))

"""Scores of the pipeline's output against the generator's planted truth (tests, benchmarks)."""

from __future__ import annotations

import pandas as pd


def _pairs(sizes: pd.Series) -> int:
    return int((sizes * (sizes - 1) // 2).sum())


def pairwise_scores(predicted: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    """`predicted`: id_type, id_value, person_id; `truth`: id_type, id_value, true_person_id."""
    truth = truth.dropna(subset=["true_person_id"]).drop_duplicates(["id_type", "id_value"])
    joined = truth.merge(
        predicted.dropna(subset=["person_id"]), on=["id_type", "id_value"], how="left"
    )
    # an identifier the pipeline left unresolved is a singleton of its own
    joined["person_id"] = joined["person_id"].fillna(
        "unresolved:" + joined["id_type"] + ":" + joined["id_value"]
    )
    true_pairs = _pairs(joined.groupby("true_person_id").size())
    predicted_pairs = _pairs(joined.groupby("person_id").size())
    both = _pairs(joined.groupby(["person_id", "true_person_id"]).size())
    return {
        "precision": both / predicted_pairs if predicted_pairs else 1.0,
        "recall": both / true_pairs if true_pairs else 1.0,
        "identifiers": len(joined),
        "true_persons": int(joined["true_person_id"].nunique()),
        "resolved_persons": int(joined["person_id"].nunique()),
    }

"""The persona names have one list on each side: the dbt seed `personas` (every SQL and yml
reference is checked against it) and ml/segmentation.py SEGMENTS (the model names its clusters
with them). The two must hold the same names, or user_segments fails its relationships test."""

from __future__ import annotations

import csv
from pathlib import Path

from ml.segmentation import INSUFFICIENT_DATA, SEGMENTS

SEED = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "personas.csv"


def test_seed_personas_are_the_models_segments():
    with SEED.open(encoding="utf-8") as f:
        personas = [row["persona"] for row in csv.DictReader(f)]
    assert personas == list(SEGMENTS)
    assert INSUFFICIENT_DATA not in personas

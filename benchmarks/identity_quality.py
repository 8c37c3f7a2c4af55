"""Pairwise precision and recall of identity resolution against the generator's truth.

    python benchmarks/identity_quality.py [DATA_DIR]   (default: $SIYU_DATA_DIR or ./data)

A pair is two identifiers resolved to one person; truth pairs come from
landing/_truth/identities.parquet. Junk identifiers (true person null) are left out of both.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import duckdb
import pandas as pd

from datagen.evaluation import pairwise_scores


def scores_for(data_dir: Path) -> dict[str, float]:
    truth = pd.read_parquet(data_dir / "landing" / "_truth" / "identities.parquet")
    warehouse = Path(os.environ.get("SIYU_WAREHOUSE_PATH") or data_dir / "warehouse.duckdb")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        predicted = con.execute(
            "select id_type, id_value, person_id from intermediate.identity_map"
        ).df()
    return pairwise_scores(predicted, truth)


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SIYU_DATA_DIR", "data"))
    for k, v in scores_for(root).items():
        print(f"{k:>17}: {v:.4f}" if isinstance(v, float) else f"{k:>17}: {v}")

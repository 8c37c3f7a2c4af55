"""The Spark target declares every raw lake table with the raw layer's columns.

On Spark the raw sources are tables over the raw lake (dbt_project/macros/cross_db/
spark_sources.sql), declared with the columns of each source's `meta.lake_columns`, so an
extract with no day yet reads as an empty table. Those lists must be the raw tables' columns,
in order: ingestion/entities.py's (every one text; the loader adds the lineage columns).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ingestion.entities import ENTITIES

STAGING = Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "staging"


def _lake_columns() -> dict[str, list[str]]:
    declared = {}
    for path in STAGING.glob("*/_*__sources.yml"):
        for source in yaml.safe_load(path.read_text())["sources"]:
            if source.get("schema") != "raw":
                continue
            for table in source["tables"]:
                declared[table["name"]] = (table.get("meta") or {}).get("lake_columns")
    return declared


def test_every_raw_source_declares_the_raw_columns_in_order():
    declared = _lake_columns()
    expected = {e.table: [c.name for c in e.columns] for e in ENTITIES}
    assert declared == expected

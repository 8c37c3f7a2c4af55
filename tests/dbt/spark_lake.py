"""The Spark target's inputs from a DuckDB platform run: the raw lake and the ml tables.

* raw: the platform's loads write the raw lake themselves (warehouse/lake.py, SIYU_LAKE_DIR):
  `<lake>/raw/<source>/<extract>/day=YYYY-MM-DD/data_0.parquet`; `raw_lake_rows` reads back what
  they wrote, to hold it to the build database's raw tables.
* ml: the Python models' tables (schema `ml`) are not in the lake yet: `export_ml` writes each as
  `<lake>/ml/<table>/data_0.parquet`; an empty table still gets a file, so Spark reads its columns
  (dbt_project/macros/cross_db/spark_sources.sql).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from warehouse.lake import DAY_PARTITION, raw_table_dir


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _tables(con: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    return [
        t
        for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = ? order by 1",
            [schema],
        ).fetchall()
    ]


def export_ml(warehouse: Path, lake: Path) -> dict[str, int]:
    """Every table of schema ml in `warehouse` as `<lake>/ml/<table>/data_0.parquet`; rows each."""
    con = duckdb.connect(str(warehouse), read_only=True)
    written = {}
    try:
        for table in _tables(con, "ml"):
            folder = lake / "ml" / table
            folder.mkdir(parents=True, exist_ok=True)
            target = _sql_path(folder / "data_0.parquet")
            con.execute(f"copy ml.{table} to '{target}' (format parquet)")
            written[table] = con.execute(f"select count(*) from ml.{table}").fetchone()[0]
    finally:
        con.close()
    return written


def raw_lake_rows(warehouse: Path, lake: Path) -> dict[str, tuple[int, int]]:
    """Each raw extract table: (rows in the build database, rows in the lake)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    counts = {}
    try:
        for table in _tables(con, "raw"):
            if table.startswith("_") or "__" not in table:
                continue
            in_db = con.execute(f"select count(*) from raw.{table}").fetchone()[0]
            files = sorted(raw_table_dir(lake, table).glob(f"{DAY_PARTITION}=*/*.parquet"))
            in_lake = (
                con.execute(
                    "select count(*) from read_parquet(?)", [[str(f) for f in files]]
                ).fetchone()[0]
                if files
                else 0
            )
            counts[table] = (in_db, in_lake)
    finally:
        con.close()
    return counts

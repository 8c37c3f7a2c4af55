"""The Spark target's inputs from a DuckDB build database: the raw lake and the ml tables.

* raw: every `raw.<source>__<extract>` as `<lake>/raw/<source>/<extract>/day=YYYY-MM-DD/*.parquet`,
  written by the lake's own writer (`warehouse.lake.write_raw_days`) when this tree has it, else
  by a copy of its layout below (the `lake` branch is not merged yet).
* ml: every table of schema `ml` (the Python models' outputs) as `<lake>/ml/<table>/data_0.parquet`;
  an empty table still gets a file, so Spark reads its columns (macros/cross_db/spark_sources.sql).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

try:  # the raw lake of branch `lake` (warehouse/lake.py), once merged
    from warehouse.lake import write_raw_days
except ImportError:  # pragma: no cover - exercised until the merge
    write_raw_days = None


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _write_raw_table(con: duckdb.DuckDBPyConnection, table: str, lake: Path) -> int:
    """warehouse.lake.write_raw_days's layout: Hive partitions `day=`, zstd Parquet."""
    source, _, extract = table.partition("__")
    target = lake / "raw" / source / extract
    target.parent.mkdir(parents=True, exist_ok=True)
    rows = con.execute(f"select count(*) from raw.{table}").fetchone()[0]
    if rows:
        con.execute(
            f"copy (select *, _partition_date as day from raw.{table}) to '{_sql_path(target)}' "
            "(format parquet, compression zstd, partition_by (day), overwrite_or_ignore)"
        )
    return rows


def export_lake(warehouse: Path, lake: Path) -> dict[str, int]:
    """Write the raw lake and the ml tables of `warehouse` under `lake`; rows per table."""
    con = duckdb.connect(str(warehouse), read_only=True)
    written = {}
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('raw', 'ml') and table_name not like '\\_%' escape '\\' "
            "order by all"
        ).fetchall()
        for schema, table in tables:
            if schema == "raw" and "__" in table:
                if write_raw_days is not None:
                    days = [
                        d
                        for (d,) in con.execute(
                            f"select distinct _partition_date from raw.{table}"
                        ).fetchall()
                    ]
                    written[f"raw.{table}"] = sum(write_raw_days(con, table, days, lake).values())
                else:
                    written[f"raw.{table}"] = _write_raw_table(con, table, lake)
            elif schema == "ml":
                folder = lake / "ml" / table
                folder.mkdir(parents=True, exist_ok=True)
                con.execute(
                    f"copy ml.{table} to '{_sql_path(folder / 'data_0.parquet')}' (format parquet)"
                )
                written[f"ml.{table}"] = con.execute(f"select count(*) from ml.{table}").fetchone()[
                    0
                ]
    finally:
        con.close()
    return written

"""Writing tables into the build database and reading query results as Arrow."""

from __future__ import annotations

import duckdb
import pandas as pd
import pyarrow as pa


def replace_table(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, frame: pd.DataFrame
) -> int:
    """Replace `schema.table` with `frame` in one transaction."""
    con.execute(f"create schema if not exists {schema}")
    con.register("_frame", frame)
    try:
        con.execute("begin transaction")
        con.execute(f"create or replace table {schema}.{table} as select * from _frame")
        con.execute("commit")
    finally:
        con.unregister("_frame")
    return len(frame)


def read_arrow(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pa.Table:
    """The result of `sql` as an Arrow table (columnar, no pandas copy)."""
    return con.execute(sql, params or []).fetch_arrow_table()

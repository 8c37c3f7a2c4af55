"""Writing tables into the build database and reading query results as Arrow."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class RelationProfile:
    """What the UI shows of a built table: its row count (None for a view, whose count would run
    its query) and its columns with their types, in table order."""

    row_count: int | None
    columns: tuple[tuple[str, str], ...]


def relation_profiles(
    con: duckdb.DuckDBPyConnection, relations: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], RelationProfile]:
    """Row counts and typed columns of (schema, table) relations in the current database, in two
    queries whatever their number. Relations that do not exist are left out."""
    wanted = set(relations)
    if not wanted:
        return {}
    schemas = sorted({schema for schema, _ in wanted})
    found = con.execute(
        "select c.table_schema, c.table_name, t.table_type, c.column_name, c.data_type "
        "from information_schema.columns as c "
        "inner join information_schema.tables as t "
        "on c.table_catalog = t.table_catalog and c.table_schema = t.table_schema "
        "and c.table_name = t.table_name "
        "where c.table_catalog = current_database() and list_contains(?, c.table_schema) "
        "order by c.table_schema, c.table_name, c.ordinal_position",
        [schemas],
    ).fetchall()
    columns: dict[tuple[str, str], list[tuple[str, str]]] = {}
    tables: set[tuple[str, str]] = set()
    for schema, table, table_type, column, data_type in found:
        if (schema, table) in wanted:
            columns.setdefault((schema, table), []).append((column, data_type))
            if table_type == "BASE TABLE":
                tables.add((schema, table))
    counts: dict[tuple[str, str], int] = {}
    if tables:
        ordered = sorted(tables)
        # count(*) of a whole DuckDB table reads row-group metadata, not the rows
        counts_sql = " union all ".join(
            f"select {i} as relation, count(*) as row_count from {_quoted(schema)}.{_quoted(table)}"
            for i, (schema, table) in enumerate(ordered)
        )
        counts = {ordered[i]: n for i, n in con.execute(counts_sql).fetchall()}
    return {
        key: RelationProfile(row_count=counts.get(key), columns=tuple(cols))
        for key, cols in columns.items()
    }


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'

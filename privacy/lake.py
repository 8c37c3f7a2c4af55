"""Erasure from the raw lake (`warehouse.lake`: the raw tables as date-partitioned Parquet).

The lake holds each erased person's raw rows until the days holding them are rewritten. `erase_lake`
finds those days by the same identifier columns and suppression hashes as `erasure.erase_raw`, read
from the lake's own files (so a rerun after a failure finds what is still there, whatever the build
database says), and rewrites each such day from the build database's raw table, which
`erase_build_db` has already cleaned. A rewritten day is a new file (renamed into place, the old
one deleted), so the erased values leave the lake's bytes. No lake folder: nothing to erase.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd

from privacy import suppression
from privacy.identifiers import IDENTIFIER_COLUMNS
from warehouse.lake import lake_days, parquet_glob, write_raw_days


def erase_lake(
    con: duckdb.DuckDBPyConnection, lake_dir: Path | str, supp: suppression.Suppression
) -> dict[str, int]:
    """Rewrite every lake day holding a row with an identifier of `supp` from `con`'s (erased)
    raw tables. Returns the rows removed per table, keyed `lake/raw/<table>`."""
    counts: dict[str, int] = {}
    for table in IDENTIFIER_COLUMNS:
        if not lake_days(lake_dir, table):
            continue
        rows, days = _rows_holding(con, lake_dir, table, supp)
        counts[f"lake/raw/{table}"] = rows
        if days:
            write_raw_days(con, table, days, lake_dir)
    return counts


def days_holding(
    con: duckdb.DuckDBPyConnection, lake_dir: Path | str, table: str, supp: suppression.Suppression
) -> list[dt.date]:
    """The lake days of `table` that still hold a row with an identifier of `supp`."""
    if not lake_days(lake_dir, table):
        return []
    return _rows_holding(con, lake_dir, table, supp)[1]


def _rows_holding(con, lake_dir, table, supp) -> tuple[int, list[dt.date]]:
    """(rows, their days) of the lake files of `table` with an identifier of `supp`."""
    cols = ", ".join(f'"{c}"' for c in IDENTIFIER_COLUMNS[table])
    frame = con.execute(
        f"select _partition_date, {cols} from read_parquet(?, hive_partitioning = false)",
        [parquet_glob(lake_dir, table)],
    ).df()
    hit = supp.row_mask(frame, table)
    days = {pd.Timestamp(d).date() for d in frame.loc[hit, "_partition_date"].unique()}
    return int(hit.sum()), sorted(days)

"""The bounds of the loaded data in the build database: where the loaded activity ends and when
the first person was seen. Every cutoff (scoring, publication, training windows) starts here."""

from __future__ import annotations

import duckdb
import pandas as pd


def data_end(con: duckdb.DuckDBPyConnection) -> pd.Timestamp:
    """The exclusive end of the loaded activity: the day after the last order or interaction
    (for a brand with neither yet, the day after the last person was first seen)."""
    last = con.execute(
        "select coalesce(greatest((select max(ordered_date) from marts.fct_orders), "
        "(select max(occurred_date) from marts.fct_interactions)), "
        "(select max(first_seen_at)::date from marts.dim_users))"
    ).fetchone()[0]
    if last is None:
        raise ValueError("nothing is loaded: no order, interaction or person in the marts")
    return pd.Timestamp(last) + pd.Timedelta(days=1)


def first_seen_at(con: duckdb.DuckDBPyConnection) -> pd.Timestamp | None:
    """The earliest first_seen_at in marts.dim_users (None without persons)."""
    ((first,),) = con.execute("select min(first_seen_at) from marts.dim_users").fetchall()
    return pd.Timestamp(first) if first is not None else None

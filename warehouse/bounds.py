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


def scoring_cutoff(
    con: duckdb.DuckDBPyConnection, requested_end: pd.Timestamp | None = None
) -> pd.Timestamp:
    """The exclusive cutoff a model step reads up to: ``requested_end`` (the day after the last
    day a run covers), never past the loaded data (:func:`data_end`); without a request, the end
    of the loaded data. Raises ValueError when nothing is loaded (:func:`data_end`)."""
    loaded_end = data_end(con)
    if requested_end is None or pd.isna(requested_end):
        return loaded_end
    return min(pd.Timestamp(requested_end), loaded_end)

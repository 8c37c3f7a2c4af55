"""Reading the models' inputs out of the build database: the point-in-time features per snapshot
and person (a dbt model), the orders CLV fits on and the registrations the forecast counts, and
the facts themselves for the parity tests and benchmarks."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import pandas as pd

from ml.features import FEATURE_NAMES, cutoff_timestamp

ORDER_COLUMNS = [
    "order_id",
    "person_id",
    "channel",
    "ordered_at",
    "amount",
    "discount_amount",
    "coupon_used",
    "is_refunded",
]
INTERACTION_COLUMNS = [
    "person_id",
    "occurred_at",
    "channel",
    "direction",
    "scenario",
    "content_type",
    "campaign_id",
]
USER_COLUMNS = ["person_id", "first_seen_at", "first_channel", "registered_at"]


def read_facts(
    con: duckdb.DuckDBPyConnection, before: pd.Timestamp | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """orders, interactions, users as pandas frames (only the columns the models use)."""
    where_o = where_i = ""
    params: list = []
    if before is not None:
        where_o = " where ordered_at < ?"
        where_i = " where occurred_at < ?"
        params = [before.to_pydatetime()]
    orders = con.execute(
        f"select {', '.join(ORDER_COLUMNS)} from marts.fct_orders{where_o}", params
    ).df()
    orders["amount"] = orders["amount"].astype(float)
    orders["discount_amount"] = orders["discount_amount"].astype(float)
    interactions = con.execute(
        f"select {', '.join(INTERACTION_COLUMNS)} from marts.fct_interactions{where_i}", params
    ).df()
    users = con.execute(f"select {', '.join(USER_COLUMNS)} from marts.dim_users").df()
    return orders, interactions, users


#: The dbt model of the point-in-time features and churn labels, one row per snapshot and person
#: (dbt_project/models/intermediate/models/int_models__person_features.sql).
PERSON_FEATURES_TABLE = "intermediate.int_models__person_features"


def read_person_features(
    con: duckdb.DuckDBPyConnection, snapshots: Iterable[pd.Timestamp | str]
) -> pd.DataFrame:
    """The features and churn labels of every person at each snapshot, from the dbt model.

    Returns the rows of :func:`ml.churn.build_training_set` (and, per snapshot, of
    :func:`ml.features.build_features`): indexed by (``snapshot_date``, ``person_id``), sorted,
    the float columns :data:`ml.features.FEATURE_NAMES` and the label ``churned`` (nullable
    integer: missing while the snapshot's 30-day churn window is not complete). Only the rows of
    the requested snapshots are read, never the facts.

    Raises:
        ValueError: a snapshot has no rows although persons were first seen before it: the model
            was built before that snapshot's data was loaded (build the daily job's dbt step).
    """
    from ml.churn import LABEL  # scikit-learn: not at import, the definitions load without it

    wanted = sorted({cutoff_timestamp(s) for s in snapshots})
    columns = ["snapshot_date", "person_id", *FEATURE_NAMES, LABEL]
    try:
        frame = con.execute(
            f"select {', '.join(columns)} from {PERSON_FEATURES_TABLE} "
            "where snapshot_date in (select unnest(cast(? as date[])))",
            [[s.date() for s in wanted]],
        ).df()
    except duckdb.CatalogException as exc:
        raise ValueError(
            f"{PERSON_FEATURES_TABLE} is not in the build database: materialise "
            "intermediate/int_models__person_features (the daily job's dbt step) first"
        ) from exc
    # nanoseconds, as ml.churn.build_training_set's stacked index has them (hash_frame reads it)
    frame["snapshot_date"] = pd.to_datetime(frame["snapshot_date"]).astype("datetime64[ns]")
    found = set(frame["snapshot_date"].unique())
    for snapshot in wanted:
        if snapshot in found:
            continue
        persons = con.execute(
            "select count(*) from marts.dim_users where first_seen_at < ?",
            [snapshot.to_pydatetime()],
        ).fetchone()[0]
        if persons:
            raise ValueError(
                f"{PERSON_FEATURES_TABLE} has no row for snapshot {snapshot.date()} although "
                f"{persons} persons were first seen before it: it was built before that data was "
                "loaded; materialise intermediate/int_models__person_features (the daily job's "
                "dbt step) over the loaded days, then run this again"
            )
    frame = frame.astype({**dict.fromkeys(FEATURE_NAMES, "float64"), LABEL: "Int64"})
    return frame.set_index(["snapshot_date", "person_id"]).sort_index()


def read_features_at(con: duckdb.DuckDBPyConnection, as_of: pd.Timestamp) -> pd.DataFrame:
    """The features at one cutoff date, as :func:`ml.features.build_features` returns them:
    indexed by ``person_id`` (sorted), float columns :data:`ml.features.FEATURE_NAMES`."""
    frame = read_person_features(con, [as_of])
    return frame.reset_index("snapshot_date", drop=True).loc[:, FEATURE_NAMES]


def read_clv_orders(con: duckdb.DuckDBPyConnection, before: pd.Timestamp) -> pd.DataFrame:
    """The non-refunded orders strictly before ``before``, as :func:`ml.clv.score_buyers` reads
    transactions: customer_id (the person_id), ordered_at, amount (float, CNY)."""
    orders = con.execute(
        "select person_id as customer_id, ordered_at, amount from marts.fct_orders "
        "where not is_refunded and ordered_at < ?",
        [before.to_pydatetime()],
    ).df()
    orders["amount"] = orders["amount"].astype(float)
    return orders


def read_registrations(con: duckdb.DuckDBPyConnection, before: pd.Timestamp) -> pd.DataFrame:
    """The persons first seen strictly before ``before``, as :func:`ml.forecast.daily_registrations`
    reads registrations: person_id, registered_at (a registration is a person's first
    appearance, marts.dim_users.first_seen_at), first_channel (the channel they came through)."""
    return con.execute(
        "select person_id, first_seen_at as registered_at, first_channel "
        "from marts.dim_users where first_seen_at < ?",
        [before.to_pydatetime()],
    ).df()

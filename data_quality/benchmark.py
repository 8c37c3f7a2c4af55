"""Time the runner on a synthetic 1M-person table: `python -m data_quality.benchmark [n]`.

Builds dim_users ids and a user_churn_scores frame in memory (no files), then times
validate_frame on it and validate_duckdb through an in-memory DuckDB connection.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from data_quality.runner import validate_duckdb, validate_frame

AS_OF = pd.Timestamp("2026-06-30")


def churn_scores(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "person_id": pd.Series(np.char.add("p", np.arange(n).astype(str)), dtype="str"),
            "churn_probability": rng.random(n),
            "risk_decile": rng.integers(1, 11, n),
            "model_version": "churn-bench",
            "scored_at": AS_OF + pd.Timedelta(hours=3),
        }
    )


def main(n: int = 1_000_000) -> None:
    import duckdb

    scores = churn_scores(n)
    ids = scores["person_id"]
    validate_frame("user_churn_scores", scores.head(100), as_of=AS_OF, reference=ids)  # warm up

    started = time.perf_counter()
    result = validate_frame("user_churn_scores", scores, as_of=AS_OF, reference=ids)
    print(
        f"validate_frame user_churn_scores, {n:,} rows: {time.perf_counter() - started:.2f} s, "
        f"success={result.success}"
    )

    con = duckdb.connect()
    con.execute("create schema marts")
    con.register("scores_df", scores)
    con.execute("create table marts.user_churn_scores as select * from scores_df")
    con.execute(
        "create table marts.dim_users as select person_id, true as consent_marketing, "
        "null::timestamp as unsubscribed_at from scores_df"
    )
    con.execute(
        "create table marts.fct_orders as select 'o' || i as order_id, 'p' || (i % 1000) as "
        "person_id, 'crm' as channel, timestamp '2026-06-30 10:00' - to_days(cast(i % 90 as "
        "integer)) as ordered_at, 10.0 as amount, 0.0 as discount_amount, false as coupon_used, "
        f"false as is_refunded from range({5 * n}) t(i)"
    )
    for table in ("user_churn_scores", "fct_orders"):
        started = time.perf_counter()
        result = validate_duckdb(con, table, as_of=AS_OF)
        rows = con.execute(f"select count(*) from marts.{table}").fetchone()[0]
        print(
            f"validate_duckdb {table}, {rows:,} rows: {time.perf_counter() - started:.2f} s, "
            f"success={result.success}"
        )
    con.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)

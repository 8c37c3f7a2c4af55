"""The core outputs the benchmark compares across the platform, the floor and the pandas peer.

Person keys are the platform's salted hashes; an implementation need not reproduce them, so the
outputs are key-free: counts, totals and distributions, plus digests of the sorted RFM tuples.

    {
      "as_of": "2026-06-29",
      "persons": {"count", "by_first_channel": {channel: n}, "identifiers", "unresolved_identifiers"},
      "orders": {"count", "refunded", "without_person", "revenue_cents" (non-refunded),
                 "gross_cents" (all), "by_channel": {channel: [count, refunded, revenue_cents]}},
      "interactions": {"count", "by_type": {"channel/direction/scenario": n}},
      "rfm": {"buyers", "orders", "recency_sum", "frequency_sum", "monetary_cents",
              "r_scores"/"f_scores"/"m_scores"/"r3_scores"/"m3_scores": {score: n},
              "segments"/"tiers": {name: n},
              "values_digest": md5 of the sorted "recency,frequency,monetary_cents" lines (no key,
                               no tie-break: equal whenever the measures are),
              "scored_digest": md5 of the sorted lines with orders, the five scores, tier and
                               segment (NTILE breaks ties by person key: equal when keys are)},
      "retention_summary": {"week/channel": {cohort_users, d1/d7/d30 cohort and retained users,
                            first_time_buyers_30d, repurchasers_30d, d1, d7, d30,
                            repurchase_rate_30d}}
    }

Every value is exact (integers, cents, strings) except the four retention rates, which are the
marts' own ratios of the exact counts beside them, compared to 1e-12.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from pathlib import Path

import duckdb

RATE_COLUMNS = ("d1", "d7", "d30", "repurchase_rate_30d")
COUNT_COLUMNS = (
    "cohort_users",
    "d1_cohort_users",
    "d1_retained_users",
    "d7_cohort_users",
    "d7_retained_users",
    "d30_cohort_users",
    "d30_retained_users",
    "first_time_buyers_30d",
    "repurchasers_30d",
)
SCORE_COLUMNS = ("r_score", "f_score", "m_score", "r3_score", "m3_score")
VALUES_LINE = "concat_ws(',', recency_days, frequency, cast(round(monetary * 100) as bigint))"
SCORED_LINE = (
    "concat_ws(',', recency_days, frequency, orders, cast(round(monetary * 100) as bigint), "
    "r_score, f_score, m_score, r3_score, m3_score, rfm_tier, coalesce(rfm_segment, ''))"
)


def digest(lines) -> str:
    """md5 of the lines sorted and joined by newlines (the same in SQL and in Python)."""
    return hashlib.md5("\n".join(sorted(lines)).encode("utf-8")).hexdigest()


def _table_schema(con: duckdb.DuckDBPyConnection, table: str, prefer: str) -> str | None:
    rows = con.execute(
        "select table_schema from information_schema.tables where table_name = ? "
        "order by table_schema = ? desc, table_schema",
        [table, prefer],
    ).fetchall()
    return rows[0][0] if rows else None


def core_outputs(con: duckdb.DuckDBPyConnection, schema: str, as_of: dt.date) -> dict:
    """The core outputs from tables shaped like the marts in `schema` (the platform's `marts`, or
    the floor's tables): dim_users, fct_orders, fct_interactions, user_rfm, retention_summary and,
    wherever it is, identity_map."""

    def q(sql: str, params=()):
        return con.execute(sql.replace("{s}", f'"{schema}"'), list(params)).fetchall()

    out: dict = {"as_of": as_of.isoformat()}
    persons = {
        "count": q("select count(*) from {s}.dim_users")[0][0],
        "by_first_channel": dict(
            q("select first_channel, count(*) from {s}.dim_users group by 1 order by 1")
        ),
    }
    id_schema = _table_schema(con, "identity_map", schema)
    if id_schema is not None:
        n, unresolved = con.execute(
            f'select count(*), count(*) filter (where person_id is null) from "{id_schema}".identity_map'
        ).fetchone()
        persons["identifiers"] = n
        persons["unresolved_identifiers"] = unresolved
    out["persons"] = persons

    cents = "cast(round(amount * 100) as bigint)"
    count, refunded, without, revenue, gross = q(
        "select count(*), count(*) filter (where is_refunded), "
        "count(*) filter (where person_id is null), "
        f"coalesce(sum({cents}) filter (where not is_refunded), 0), coalesce(sum({cents}), 0) "
        "from {s}.fct_orders"
    )[0]
    out["orders"] = {
        "count": count,
        "refunded": refunded,
        "without_person": without,
        "revenue_cents": int(revenue),
        "gross_cents": int(gross),
        "by_channel": {
            ch: [n, r, int(v)]
            for ch, n, r, v in q(
                "select channel, count(*), count(*) filter (where is_refunded), "
                f"coalesce(sum({cents}) filter (where not is_refunded), 0) "
                "from {s}.fct_orders group by 1 order by 1"
            )
        },
    }

    out["interactions"] = {
        "count": q("select count(*) from {s}.fct_interactions")[0][0],
        "by_type": {
            f"{c}/{d}/{sc}": n
            for c, d, sc, n in q(
                "select channel, direction, coalesce(scenario, ''), count(*) "
                "from {s}.fct_interactions group by all order by all"
            )
        },
    }

    rfm_where = "from {s}.user_rfm where as_of_date = ?"
    buyers, orders, rsum, fsum, msum = q(
        "select count(*), coalesce(sum(orders), 0), coalesce(sum(recency_days), 0), "
        "coalesce(sum(frequency), 0), coalesce(sum(cast(round(monetary * 100) as bigint)), 0) "
        + rfm_where,
        [as_of],
    )[0]
    rfm: dict = {
        "buyers": buyers,
        "orders": int(orders),
        "recency_sum": int(rsum),
        "frequency_sum": int(fsum),
        "monetary_cents": int(msum),
    }
    for col in SCORE_COLUMNS:
        rfm[col + "s"] = {
            str(k): n
            for k, n in q(f"select {col}, count(*) {rfm_where} group by 1 order by 1", [as_of])
        }
    for col, key in (("rfm_segment", "segments"), ("rfm_tier", "tiers")):
        rfm[key] = {
            str(k): n
            for k, n in q(
                f"select coalesce({col}, ''), count(*) {rfm_where} group by 1 order by 1", [as_of]
            )
        }
    for line, key in ((VALUES_LINE, "values_digest"), (SCORED_LINE, "scored_digest")):
        rfm[key] = digest(r[0] for r in q(f"select {line} {rfm_where}", [as_of]))
    out["rfm"] = rfm

    cols = ", ".join((*COUNT_COLUMNS, *RATE_COLUMNS))
    rows = q(f"select cohort_week, cohort_channel, {cols} from {{s}}.retention_summary")
    out["retention_summary"] = {
        f"{week.isoformat()}/{channel}": _retention_row(values) for week, channel, *values in rows
    }
    return out


def _retention_row(values) -> dict:
    counts = values[: len(COUNT_COLUMNS)]
    rates = values[len(COUNT_COLUMNS) :]
    row = {c: (None if v is None else int(v)) for c, v in zip(COUNT_COLUMNS, counts, strict=True)}
    row.update(
        {
            c: (None if v is None or math.isnan(float(v)) else float(v))
            for c, v in zip(RATE_COLUMNS, rates, strict=True)
        }
    )
    return row


def core_outputs_from_warehouse(db_path: Path, as_of: dt.date | None = None) -> dict:
    """The platform's core outputs from its marts (schema `marts`), opened read-only. `as_of`
    defaults to the latest RFM snapshot day."""
    with duckdb.connect(str(db_path), read_only=True) as con:
        if as_of is None:
            as_of = con.execute("select max(as_of_date) from marts.user_rfm").fetchone()[0]
        return core_outputs(con, schema="marts", as_of=as_of)


def compare(a: dict, b: dict, path: str = "") -> list[str]:
    """One line per disagreement between two core-output dicts (keys starting with `_` are
    metadata and not compared). Exact everywhere except floats (the retention rates), which
    agree to 1e-12."""
    lines: list[str] = []
    keys = sorted({k for k in (*a, *b) if not str(k).startswith("_")}, key=str)
    for k in keys:
        where = f"{path}.{k}" if path else str(k)
        if k not in a:
            lines.append(f"{where}: missing on the left (right has {_short(b[k])})")
        elif k not in b:
            lines.append(f"{where}: missing on the right (left has {_short(a[k])})")
        elif isinstance(a[k], dict) and isinstance(b[k], dict):
            lines.extend(compare(a[k], b[k], where))
        elif not _same(a[k], b[k]):
            lines.append(f"{where}: {_short(a[k])} != {_short(b[k])}")
    return lines


def _same(x, y) -> bool:
    if isinstance(x, float) or isinstance(y, float):
        if x is None or y is None:
            return x is None and y is None
        return math.isclose(float(x), float(y), rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        return len(x) == len(y) and all(_same(i, j) for i, j in zip(x, y, strict=True))
    return x == y


def _short(v) -> str:
    text = repr(v)
    return text if len(text) <= 120 else text[:117] + "..."

"""The inbound WeCom messages the intent model classifies, its labelled examples, and its table.

The intent step runs before dbt: an unsubscribe request it finds withdraws consent in
``int_users__contactability``, which ``dim_users`` and every model step read. So it reads the
raw layer (``raw.wecom__messages``, loaded by the ingestion asset) with the rules of
``stg_wecom__messages``: the latest delivery of each msgid, ``action`` send (or none), sent by an
external contact (ids starting wm / wo). The dbt marts join its output back to the staged
messages, and their not-null test on ``intent`` fails if the two ever disagree.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

RAW_MESSAGES = "raw.wecom__messages"
INTENTS_TABLE = "ml.inbound_message_intents"
#: The labelled examples (an editable dbt seed; dbt also loads it as seeds.inbound_intent_examples).
INTENT_EXAMPLES_CSV = (
    Path(__file__).resolve().parents[1] / "dbt_project" / "seeds" / ("inbound_intent_examples.csv")
)

_INBOUND_SQL = f"""
with deliveries as (
    select
        trim(msgid) as msgid,
        content,
        row_number() over (
            partition by trim(msgid)
            order by _partition_date desc, _loaded_at desc, _row_number desc
        ) as delivery_rank
    from {RAW_MESSAGES}
    where
        coalesce(action, 'send') = 'send'
        and (trim(from_userid) like 'wm%' or trim(from_userid) like 'wo%')
)
select msgid, coalesce(content, '') as content
from deliveries
where delivery_rank = 1 and msgid is not null and msgid <> ''
"""


def _exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, table = qualified.split(".")
    ((n,),) = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()
    return n > 0


def read_inbound_messages(
    con: duckdb.DuckDBPyConnection, not_scored_by: str | None = None
) -> pd.DataFrame:
    """msgid, content of every inbound WeCom message loaded (sorted by msgid); with
    ``not_scored_by`` (a model version), only those without a row of that version in
    ml.inbound_message_intents. No raw table (a brand without WeCom): no rows."""
    if not _exists(con, RAW_MESSAGES):
        return pd.DataFrame({"msgid": pd.Series(dtype="str"), "content": pd.Series(dtype="str")})
    sql, params = _INBOUND_SQL, []
    if not_scored_by is not None and _exists(con, INTENTS_TABLE):
        sql += f" and msgid not in (select msgid from {INTENTS_TABLE} where model_version = ?)"
        params = [not_scored_by]
    return con.execute(sql + " order by msgid", params).df().astype(str)


def scored_intent_version(con: duckdb.DuckDBPyConnection) -> str | None:
    """The model version of the rows in ml.inbound_message_intents (None: no table or no rows;
    the table holds one version at a time)."""
    if not _exists(con, INTENTS_TABLE):
        return None
    rows = con.execute(f"select distinct model_version from {INTENTS_TABLE}").fetchall()
    return rows[0][0] if len(rows) == 1 else None


def write_intent_scores(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, replace: bool) -> int:
    """Write the classified messages in one transaction: ``replace`` the table with ``frame``,
    or append ``frame`` (rows of the version already in it). Either way rows of messages no
    longer in the raw layer (erased) leave, so the table equals a full classification. Returns
    the table's rows."""
    con.execute("create schema if not exists ml")
    con.register("_intents", frame)
    try:
        con.execute("begin transaction")
        if replace or not _exists(con, INTENTS_TABLE):
            con.execute(f"create or replace table {INTENTS_TABLE} as select * from _intents")
        else:
            con.execute(f"insert into {INTENTS_TABLE} select * from _intents")
        if _exists(con, RAW_MESSAGES):
            con.execute(
                f"delete from {INTENTS_TABLE} where msgid not in "
                f"(select trim(msgid) from {RAW_MESSAGES} where msgid is not null)"
            )
        ((rows,),) = con.execute(f"select count(*) from {INTENTS_TABLE}").fetchall()
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        con.unregister("_intents")
    return int(rows)


def read_intent_examples(path: Path | str = INTENT_EXAMPLES_CSV) -> pd.DataFrame:
    """The labelled examples (example_text, intent) of the seed CSV, as text."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = {"example_text", "intent"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    return frame[["example_text", "intent"]]

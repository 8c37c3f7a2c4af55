"""The intraday (live) path's SQL: the daily baseline it starts from and the two live tables.

Layout under the live folder (`SIYU_LIVE_DIR`, default `<data>/live`)::

    live.duckdb                 the live database: appended raw rows, file ledger, marts.*_live
    baseline -> baselines/<stamp>/   what the last daily publication knew (symlink, swapped)
        identity.parquet        id_type, identifier_hash (salted, as fct_interactions'), person_id
        persons.parquet         person_id, last_active_at, segment, churn_risk_decile
        touch_days.parquet      person_id, touch_date, touches: outbound touches of the last 7 days
        manifest.json           as_of_date (the last consolidated day), version, written_at
    serving_live.duckdb -> publications/<version>/serving.duckdb   (publishing.publish)
    published -> publications/<version>/parquet

The live tables are a small SQL module here rather than dbt models: they are rebuilt every few
minutes on a database of their own, where a dbt invocation (start-up and parse, 5-10 s here)
would cost more than the queries, and every dbt model of the project targets the build database.
The rules they share with the daily marts are read from the dbt project, one definition each:
the 2-hour SLA (var `sla_reply_minutes`), the frequency cap (var `nba_max_touches_7d`) and the
business time zone (var `business_utc_offset_hours`); an interaction is what `fct_interactions`
counts (same four extracts, same filters, one row per interaction id).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import yaml

from warehouse.files import make_private, private_dir

DBT_PROJECT_FILE = Path(__file__).resolve().parents[1] / "dbt_project" / "dbt_project.yml"
LIVE_DB_FILE = "live.duckdb"
BASELINE_LINK = "baseline"
BASELINES_DIR = "baselines"
SERVING_FILE = "serving_live.duckdb"
PUBLISHED_LINK = "published"
PUBLICATIONS_DIR = "publications"
MANIFEST = "manifest.json"
LIVE_TABLES = ("engagement_live", "user_tags_live")
# The over-touch rule of engagement_daily (seed 2.4.2): touched on 3 consecutive days.
OVER_TOUCH_DAYS = 3
# Touch days the baseline keeps: the 7-day frequency window.
TOUCH_WINDOW_DAYS = 7
BASELINES_KEPT = 2


@dataclass(frozen=True)
class LiveRules:
    sla_minutes: int
    frequency_cap_7d: int
    utc_offset_hours: int


@cache
def live_rules(project_file: Path = DBT_PROJECT_FILE) -> LiveRules:
    """The rules the live tables share with the daily marts, from the dbt project's vars."""
    vars_ = yaml.safe_load(Path(project_file).read_text(encoding="utf-8"))["vars"]
    return LiveRules(
        sla_minutes=int(vars_["sla_reply_minutes"]),
        frequency_cap_7d=int(vars_["nba_max_touches_7d"]),
        utc_offset_hours=int(vars_["business_utc_offset_hours"]),
    )


@dataclass(frozen=True)
class Baseline:
    path: Path  # the resolved baselines/<stamp>/ folder
    as_of_date: dt.date  # the last day the daily run consolidated
    version: str

    def file(self, name: str) -> Path:
        return self.path / f"{name}.parquet"


def live_db_path(live_dir: Path | str) -> Path:
    return Path(live_dir) / LIVE_DB_FILE


def serving_path(live_dir: Path | str) -> Path:
    return Path(live_dir) / SERVING_FILE


def published_dir(live_dir: Path | str) -> Path:
    return Path(live_dir) / PUBLISHED_LINK


def versions_dir(live_dir: Path | str) -> Path:
    return Path(live_dir) / PUBLICATIONS_DIR


def read_baseline(live_dir: Path | str) -> Baseline | None:
    """The live baseline the last daily publication left, or None before the first one."""
    link = Path(live_dir) / BASELINE_LINK
    try:
        folder = link.resolve(strict=True)
        doc = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return Baseline(folder, dt.date.fromisoformat(doc["as_of_date"]), doc["version"])


# -- the baseline, written by the daily run after its publication ---------------------------------

_IDENTITY_SQL = """
select
    id_type,
    md5(getvariable('siyu_live_salt') || '|' || id_type || ':' || id_value) as identifier_hash,
    person_id
from intermediate.identity_map
where person_id is not null and id_type in ('external_userid', 'member_id', 'openid')
"""

_PERSONS_SQL = """
with
users as (select person_id from served.marts.dim_users),
inbound as (
    select person_id, max(occurred_at) as last_at
    from served.marts.fct_interactions
    where direction = 'inbound' and person_id is not null
    group by person_id
),
orders as (
    select person_id, max(ordered_at) as last_at
    from served.marts.fct_orders
    where person_id is not null
    group by person_id
),
segments as (select person_id, segment from served.marts.user_segments),
churn as (select person_id, risk_decile from served.marts.user_churn_scores),
final as (
    select
        users.person_id,
        nullif(greatest(
            coalesce(inbound.last_at, timestamp '1900-01-01'),
            coalesce(orders.last_at, timestamp '1900-01-01')
        ), timestamp '1900-01-01') as last_active_at,
        segments.segment,
        cast(churn.risk_decile as bigint) as churn_risk_decile
    from users
    left join inbound on inbound.person_id = users.person_id
    left join orders on orders.person_id = users.person_id
    left join segments on segments.person_id = users.person_id
    left join churn on churn.person_id = users.person_id
)
select * from final
"""

_TOUCH_DAYS_SQL = """
select person_id, occurred_date as touch_date, count(*) as touches
from served.marts.fct_interactions
where
    direction = 'outbound'
    and person_id is not null
    and occurred_date > cast(? as date) - {window}
    and occurred_date <= cast(? as date)
group by person_id, occurred_date
"""


def write_baseline(
    con: duckdb.DuckDBPyConnection,
    served_path: Path | str,
    live_dir: Path | str,
    salt: str,
    version: str,
) -> Baseline:
    """Write the live baseline from the build database (`con`: identity_map) and the published
    serving file (`served_path`: persons, segments, churn deciles, the last week's touches), as
    of the last day engagement_daily publishes; swap it in atomically and keep the newest
    BASELINES_KEPT. The identifiers are only their salted hashes."""
    live_dir = Path(live_dir)
    private_dir(live_dir)
    root = private_dir(live_dir / BASELINES_DIR)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = root / stamp
    tmp = root / f".tmp-{stamp}"
    private_dir(tmp)
    con.execute(f"attach '{_sql_path(served_path)}' as served (read_only)")
    try:
        as_of = con.execute("select max(date) from served.marts.engagement_daily").fetchone()[0]
        if as_of is None:
            raise ValueError(f"{served_path}: engagement_daily is empty; no day is published yet")
        con.execute("set variable siyu_live_salt = ?", [salt])
        try:
            _copy(con, _IDENTITY_SQL, tmp / "identity.parquet")
        finally:
            con.execute("reset variable siyu_live_salt")
        _copy(con, _PERSONS_SQL, tmp / "persons.parquet")
        _copy(
            con,
            _TOUCH_DAYS_SQL.format(window=TOUCH_WINDOW_DAYS),
            tmp / "touch_days.parquet",
            [as_of, as_of],
        )
    finally:
        con.execute("detach served")
    manifest = {
        "as_of_date": as_of.isoformat(),
        "version": version,
        "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "served_from": str(served_path),
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    for f in tmp.iterdir():
        make_private(f)
    os.rename(tmp, folder)
    _swap_link(live_dir / BASELINE_LINK, Path(BASELINES_DIR) / stamp)
    for old in sorted(p for p in root.iterdir() if not p.name.startswith("."))[:-BASELINES_KEPT]:
        shutil.rmtree(old, ignore_errors=True)
    return Baseline(folder, as_of, version)


def _copy(con, query: str, target: Path, params: list | None = None) -> None:
    con.execute(
        f"copy ({query}) to '{_sql_path(target)}' (format parquet, compression zstd)", params or []
    )


def _sql_path(path: Path | str) -> str:
    # paths are the platform's own folders; a quote in one is doubled, never code
    return str(Path(path).absolute()).replace("'", "''")


def _swap_link(link: Path, target: Path) -> None:
    tmp = link.with_name(f".{link.name}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, link)


# -- the live tables --------------------------------------------------------------------------

# One row per interaction of the live rows, as fct_interactions keys them (macros/time.sql's
# epoch_to_local: epoch + the business offset; CRM local times are ISO after ingestion).
_INTERACTIONS_SQL = """
create or replace temp table live_interactions as
with
messages as (
    select * from (
        select
            trim(msgid) as msgid,
            trim(from_userid) as from_userid,
            trim(split_part(tolist, '|', 1)) as first_recipient_id,
            nullif(trim(roomid), '') as room_id,
            (from_userid like 'wm%' or from_userid like 'wo%') as is_inbound,
            make_timestamp(cast(sent_at as bigint) * 1000) + interval {offset} hour as sent_at,
            row_number() over (
                partition by trim(msgid)
                order by _partition_date desc, _loaded_at desc, _row_number desc
            ) as delivery_rank
        from raw.wecom__messages
        where coalesce(action, 'send') = 'send'
    ) as ranked
    where delivery_rank = 1
),
campaign_sends as (
    select distinct
        trim(campaign_id) as campaign_id,
        trim(external_userid) as external_userid,
        case when chat_type = 'group' then 'wecom_group' else 'wecom_1v1' end as channel,
        make_timestamp(cast(sent_at as bigint) * 1000000) + interval {offset} hour as sent_at
    from raw.wecom__campaign_sends
    where send_status = 'sent'
),
sms_sends as (
    select distinct
        trim(campaign_id) as campaign_id,
        trim(member_id) as member_id,
        cast(sent_at as timestamp) as sent_at
    from raw.crm__sms_sends
    where send_status = '成功'
),
mp_events as (
    select distinct
        trim(event_id) as event_id,
        trim(openid) as openid,
        make_timestamp(cast(event_at as bigint) * 1000) + interval {offset} hour as event_at
    from raw.miniprogram__events
),
unioned as (
    select
        'msg:' || msgid as interaction_id,
        'external_userid' as id_type,
        case when is_inbound then from_userid else first_recipient_id end as id_value,
        sent_at as occurred_at,
        case when room_id is null then 'wecom_1v1' else 'wecom_group' end as channel,
        case when is_inbound then 'inbound' else 'outbound' end as direction,
        case
            when is_inbound and room_id is null then 'chat'
            when is_inbound then 'group_chat'
            else 'service_reply'
        end as scenario
    from messages
    where is_inbound or room_id is null
    union all
    select
        'cmp:' || campaign_id || '|' || external_userid, 'external_userid', external_userid,
        min(sent_at), min(channel), 'outbound', 'campaign'
    from campaign_sends
    group by campaign_id, external_userid
    union all
    select
        'sms:' || campaign_id || '|' || member_id, 'member_id', member_id, min(sent_at), 'sms',
        'outbound', 'campaign'
    from sms_sends
    group by campaign_id, member_id
    union all
    select 'evt:' || event_id, 'openid', openid, min(event_at), 'miniprogram', 'inbound', 'event'
    from mp_events
    group by event_id, openid
),
identity as (select * from read_parquet('{identity}')),
final as (
    select
        unioned.interaction_id,
        identity.person_id,
        unioned.occurred_at,
        cast(unioned.occurred_at as date) as occurred_date,
        unioned.channel,
        unioned.direction,
        unioned.scenario
    from unioned
    inner join identity
        on
            identity.id_type = unioned.id_type
            and identity.identifier_hash
            = md5(getvariable('siyu_live_salt') || '|' || unioned.id_type || ':' || unioned.id_value)
)
select * from final
"""

_ORDERS_SQL = """
create or replace temp table live_orders as
with
orders as (
    select 'member_id' as id_type, trim(member_id) as id_value,
        cast(ordered_at as timestamp) as ordered_at
    from raw.crm__orders
    where order_status in ('已完成', '已退款')
    union all
    select 'openid', trim(openid),
        make_timestamp(cast(created_at as bigint) * 1000) + interval {offset} hour
    from raw.miniprogram__orders
    where order_status in ('paid', 'refunded')
),
identity as (select * from read_parquet('{identity}'))
select identity.person_id, max(orders.ordered_at) as last_ordered_at
from orders
inner join identity
    on
        identity.id_type = orders.id_type
        and identity.identifier_hash
        = md5(getvariable('siyu_live_salt') || '|' || orders.id_type || ':' || orders.id_value)
group by identity.person_id
"""

# Live days: the day folders after the baseline's day that hold rows; today = the latest of them
# (the day after the baseline before any batch of it has landed).
_ENGAGEMENT_SQL = """
create or replace table marts.engagement_live as
with
interactions as (
    select * from live_interactions where occurred_date > cast($as_of as date)
),
live_days as (
    select distinct occurred_date as date from interactions
),
watermark as (select max(occurred_at) as watermark_at from live_interactions),
touches as (select * from interactions where direction = 'outbound'),
touch_days as (
    select person_id, touch_date from read_parquet('{touch_days}')
    union
    select distinct person_id, occurred_date from touches
),
touches_of_day as (
    select
        occurred_date as date,
        count(*) as touches,
        count(distinct person_id) as touched_users,
        sum(case when channel = 'wecom_group' then 1 else 0 end) as community_touches
    from touches
    group by occurred_date
),
interacting as (
    select occurred_date as date, count(distinct person_id) as interacting_users
    from interactions
    where direction = 'inbound'
    group by occurred_date
),
over_touch as (
    select live_days.date, count(distinct touch_days.person_id) as over_touch_users
    from live_days
    inner join touch_days
        on touch_days.touch_date between live_days.date - {streak_back} and live_days.date
    group by live_days.date, touch_days.person_id
    having count(distinct touch_days.touch_date) = {streak}
),
over_touch_of_day as (
    select date, sum(over_touch_users) as over_touch_users from over_touch group by date
),
chats as (
    select * from interactions
    where channel = 'wecom_1v1' and direction = 'inbound' and scenario = 'chat'
),
replies as (
    select * from live_interactions
    where channel = 'wecom_1v1' and direction = 'outbound' and scenario = 'service_reply'
),
open_breaches as (
    select chats.interaction_id, chats.person_id, chats.occurred_date
    from chats
    cross join watermark
    where
        chats.occurred_at + interval {sla} minute <= watermark.watermark_at
        and not exists (
            select 1 from replies
            where replies.person_id = chats.person_id and replies.occurred_at >= chats.occurred_at
        )
),
chats_of_day as (
    select occurred_date as date, count(*) as inbound_chats from chats group by occurred_date
),
breaches_of_day as (
    select occurred_date as date, count(*) as open_sla_breaches
    from open_breaches group by occurred_date
),
final as (
    select
        -- day
        live_days.date,

        -- touches
        coalesce(touches_of_day.touches, 0) as touches,
        coalesce(touches_of_day.touched_users, 0) as touched_users,
        1.0 * touches_of_day.community_touches / nullif(touches_of_day.touches, 0)
            as community_share,
        cast(coalesce(over_touch_of_day.over_touch_users, 0) as bigint) as over_touch_users,

        -- users
        coalesce(interacting.interacting_users, 0) as interacting_users,

        -- SLA
        coalesce(chats_of_day.inbound_chats, 0) as inbound_chats,
        coalesce(breaches_of_day.open_sla_breaches, 0) as open_sla_breaches,

        -- timestamps
        watermark.watermark_at as data_as_of_at,
        cast($as_of as date) as baseline_date
    from live_days
    cross join watermark
    left join touches_of_day on touches_of_day.date = live_days.date
    left join over_touch_of_day on over_touch_of_day.date = live_days.date
    left join interacting on interacting.date = live_days.date
    left join chats_of_day on chats_of_day.date = live_days.date
    left join breaches_of_day on breaches_of_day.date = live_days.date
)
select * from final order by date
"""

_USER_TAGS_SQL = """
create or replace table marts.user_tags_live as
with
persons as (select * from read_parquet('{persons}')),
interactions as (
    select * from live_interactions where occurred_date > cast($as_of as date)
),
today as (
    select coalesce(max(occurred_date), cast($as_of as date) + 1) as tags_date from interactions
),
watermark as (select max(occurred_at) as watermark_at from live_interactions),
touch_days as (
    select person_id, touch_date, touches from read_parquet('{touch_days}')
    union all
    select person_id, occurred_date, count(*)
    from interactions
    where direction = 'outbound'
    group by person_id, occurred_date
),
touches as (
    select
        touch_days.person_id,
        sum(case when touch_days.touch_date = today.tags_date then touches else 0 end)
            as touches_today,
        sum(touches) as touches_7d
    from touch_days
    cross join today
    where touch_days.touch_date between today.tags_date - {window_back} and today.tags_date
    group by touch_days.person_id
),
live_active as (
    select person_id, max(occurred_at) as last_at
    from interactions
    where direction = 'inbound'
    group by person_id
),
breached as (
    select distinct chats.person_id
    from interactions as chats
    cross join watermark
    where
        chats.channel = 'wecom_1v1' and chats.direction = 'inbound' and chats.scenario = 'chat'
        and chats.occurred_at + interval {sla} minute <= watermark.watermark_at
        and not exists (
            select 1 from live_interactions as replies
            where
                replies.channel = 'wecom_1v1' and replies.direction = 'outbound'
                and replies.scenario = 'service_reply'
                and replies.person_id = chats.person_id
                and replies.occurred_at >= chats.occurred_at
        )
),
final as (
    select
        -- ids
        persons.person_id,

        -- tags
        nullif(greatest(
            coalesce(persons.last_active_at, timestamp '1900-01-01'),
            coalesce(live_active.last_at, timestamp '1900-01-01'),
            coalesce(live_orders.last_ordered_at, timestamp '1900-01-01')
        ), timestamp '1900-01-01') as last_active_at,
        cast(coalesce(touches.touches_today, 0) as bigint) as touches_today,
        cast(coalesce(touches.touches_7d, 0) as bigint) as touches_7d,
        breached.person_id is not null as is_in_open_sla_breach,
        coalesce(touches.touches_7d, 0) > {cap} as is_over_frequency_cap,
        persons.segment,
        persons.churn_risk_decile,

        -- timestamps
        today.tags_date,
        watermark.watermark_at as data_as_of_at,
        cast($as_of as date) as baseline_date
    from persons
    cross join today
    cross join watermark
    left join touches on touches.person_id = persons.person_id
    left join live_active on live_active.person_id = persons.person_id
    left join live_orders on live_orders.person_id = persons.person_id
    left join breached on breached.person_id = persons.person_id
)
select * from final order by person_id
"""


@dataclass(frozen=True)
class LiveTables:
    rows: dict[str, int]
    live_days: list[dt.date]
    interactions: int  # live interactions resolved to a person
    data_as_of_at: dt.datetime | None


def build_live_tables(con: duckdb.DuckDBPyConnection, baseline: Baseline, salt: str) -> LiveTables:
    """(Re)build marts.engagement_live and marts.user_tags_live in the live database from its raw
    rows (schema raw, ingestion.live) and `baseline`, in one transaction."""
    rules = live_rules()
    fmt = {
        "offset": rules.utc_offset_hours,
        "sla": rules.sla_minutes,
        "cap": rules.frequency_cap_7d,
        "streak": OVER_TOUCH_DAYS,
        "streak_back": OVER_TOUCH_DAYS - 1,
        "window_back": TOUCH_WINDOW_DAYS - 1,
        "identity": _sql_path(baseline.file("identity")),
        "persons": _sql_path(baseline.file("persons")),
        "touch_days": _sql_path(baseline.file("touch_days")),
    }
    params = {"as_of": baseline.as_of_date}
    con.execute("create schema if not exists marts")
    con.execute("set variable siyu_live_salt = ?", [salt])
    con.execute("begin transaction")
    try:
        con.execute(_INTERACTIONS_SQL.format(**fmt))
        con.execute(_ORDERS_SQL.format(**fmt))
        con.execute(_ENGAGEMENT_SQL.format(**fmt), params)
        con.execute(_USER_TAGS_SQL.format(**fmt), params)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.execute("reset variable siyu_live_salt")
    rows = {t: con.execute(f"select count(*) from marts.{t}").fetchone()[0] for t in LIVE_TABLES}
    days = [r[0] for r in con.execute("select date from marts.engagement_live").fetchall()]
    n, watermark = con.execute(
        "select count(*), max(occurred_at) from live_interactions where occurred_date > ?",
        [baseline.as_of_date],
    ).fetchone()
    return LiveTables(rows, days, int(n), watermark)

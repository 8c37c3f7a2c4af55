-- One row per day of the loaded range (days without any activity included): interaction rate
-- (互动率), touches, channel mix with the community share, over-touch shares and the 2-hour SLA
-- breach rate. Without any interaction at all the counts are 0 and the ratios over touches or
-- chats are null (nothing to divide by).
-- Incremental by date: a run rebuilds the days in [run start - 1 day, max_date), the run start
-- being the earliest of min_date, the first day not built yet, the first day of a late row loaded
-- in the window and the first day of a person whose identity changed (measurement_run_start), so
-- a daily chain equals a full build; the one-day look-back settles the SLA of late-evening
-- messages whose 2-hour window closed the next day.
{{
    config(
        materialized=incremental_or_table(),
        unique_key='date',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}

{%- set run_start = measurement_run_start('date') -%}

{%- set sla_minutes = var('sla_reply_minutes') -%}

-- fct_interactions is read by each CTE below with its own filter, not through one import CTE: a
-- CTE read five times is materialised whole (every interaction, every column) before the filters.
{%- set interactions = ref('fct_interactions') %}

with

users as (select * from {{ ref('dim_users') }}),
calendar as (select * from {{ ref('int_measurement__calendar') }}),

days as (

    select distinct date_day as date
    from calendar
    where {{ measurement_in_run('date_day', run_start, 1) }}

),

-- Every trailing count below is a step function of the day: it changes only on the days a
-- person's state changes (first seen, a coverage interval opens or closes). Each CTE emits those
-- changes as +1 / -1 (or +n / -n) events and `running_levels` adds them up in date order, so the
-- cost is that of the facts, not days x facts as a join of every day with its trailing window.

-- users -------------------------------------------------------------------------------------

-- total_users: +n on each first_seen_date (all of them: days before the run count too)
new_user_events as (

    select
        first_seen_date as event_date,
        count(*) as total_users_delta
    from users
    where first_seen_date is not null
    group by first_seen_date

),

inbound_person_days as (

    select distinct
        person_id,
        occurred_date
    from {{ interactions }}
    where
        direction = 'inbound'
        and person_id is not null
        and {{ measurement_in_run('occurred_date', run_start, 30) }}

),

-- interacting_users: an inbound day o covers the days [o, o + 30); a person's overlapping
-- coverages merge into islands (gaps and islands: a day within 30 days of the person's previous
-- inbound day continues the island), each island counts the person once: +1 where it opens,
-- -1 where it closes
inbound_neighbours as (

    select
        person_id,
        occurred_date,
        lag(occurred_date) over (partition by person_id order by occurred_date) as previous_date,
        lead(occurred_date) over (partition by person_id order by occurred_date) as next_date
    from inbound_person_days

),

interacting_user_events as (

    select
        occurred_date as event_date,
        1 as interacting_users_delta
    from inbound_neighbours
    where previous_date is null or previous_date < {{ measurement_add_days('occurred_date', -30) }}

    union all

    select
        {{ measurement_add_days('occurred_date', 30) }} as event_date,
        -1 as interacting_users_delta
    from inbound_neighbours
    where next_date is null or next_date > {{ measurement_add_days('occurred_date', 30) }}

),

-- touches -----------------------------------------------------------------------------------

touches as (

    select *
    from {{ interactions }}
    where
        direction = 'outbound'
        and {{ measurement_in_run('occurred_date', run_start, 8) }}

),

touches_of_day as (

    select
        occurred_date as date,
        count(*) as touches,
        count(distinct person_id) as touched_users,
        sum(case when channel = 'wecom_1v1' then 1 else 0 end) as wecom_1v1_touches,
        sum(case when channel = 'wecom_group' then 1 else 0 end) as wecom_group_touches,
        sum(case when channel = 'miniprogram' then 1 else 0 end) as miniprogram_touches,
        sum(case when channel = 'sms' then 1 else 0 end) as sms_touches
    from touches
    group by occurred_date

),

-- one row per person and touched day; touches without a person (group posts) form one group of
-- their own, as they always have in the trailing counts
touch_person_days as (

    select
        person_id,
        occurred_date,
        count(*) as touches
    from touches
    group by person_id, occurred_date

),

-- a person's touches in the trailing 7 days (d-6..d) change only where a touched day enters
-- (day o, +n) or leaves (day o + 7, -n) the window
person_touch_changes as (

    select
        person_id,
        event_date,
        sum(touches_delta) as touches_delta
    from (
        select
            person_id,
            occurred_date as event_date,
            touches as touches_delta
        from touch_person_days
        union all
        select
            person_id,
            {{ measurement_add_days('occurred_date', 7) }} as event_date,
            -touches as touches_delta
        from touch_person_days
    ) as entering_and_leaving
    group by person_id, event_date

),

-- the person's trailing-7-day touches from event_date until their next change
person_touch_levels as (

    select
        person_id,
        event_date,
        touches_delta,
        sum(touches_delta) over (
            partition by person_id order by event_date rows between unbounded preceding and current row
        ) as touches_7d
    from person_touch_changes

),

-- per change: the day's total touches_7d moves by the delta, the person enters or leaves the
-- touched persons (touches_7d > 0) and the persons touched more than 3 times (touches_7d > 3)
trailing_touch_events as (

    select
        event_date,
        touches_delta as touches_7d_delta,
        case when touches_7d > 0 then 1 else 0 end
        - case when touches_7d - touches_delta > 0 then 1 else 0 end as touched_users_7d_delta,
        case when touches_7d > 3 then 1 else 0 end
        - case when touches_7d - touches_delta > 3 then 1 else 0 end as users_over_3_touches_7d_delta
    from person_touch_levels

),

-- over-touch: runs of consecutive touched days per person (day minus its rank is constant along
-- a run); a run of days s..e has the person touched on the 3 (7) days ending on every day from
-- s + 2 (s + 6) to e
touch_runs as (

    select
        person_id,
        min(occurred_date) as run_start_date,
        max(occurred_date) as run_end_date,
        count(*) as run_days
    from (
        select
            person_id,
            occurred_date,
            {{ measurement_add_days(
                'occurred_date',
                '-row_number() over (partition by person_id order by occurred_date)'
            ) }} as run_anchor_date
        from touch_person_days
    ) as ranked_days
    group by person_id, run_anchor_date

),

over_touch_events as (

    select
        {{ measurement_add_days('run_start_date', 2) }} as event_date,
        1 as over_touch_3d_delta,
        0 as over_touch_7d_delta
    from touch_runs
    where run_days >= 3
    union all
    select
        {{ measurement_add_days('run_end_date', 1) }} as event_date,
        -1 as over_touch_3d_delta,
        0 as over_touch_7d_delta
    from touch_runs
    where run_days >= 3
    union all
    select
        {{ measurement_add_days('run_start_date', 6) }} as event_date,
        0 as over_touch_3d_delta,
        1 as over_touch_7d_delta
    from touch_runs
    where run_days >= 7
    union all
    select
        {{ measurement_add_days('run_end_date', 1) }} as event_date,
        0 as over_touch_3d_delta,
        -1 as over_touch_7d_delta
    from touch_runs
    where run_days >= 7

),

-- levels ------------------------------------------------------------------------------------

level_events as (

    select
        event_date,
        total_users_delta,
        0 as interacting_users_delta,
        0 as touches_7d_delta,
        0 as touched_users_7d_delta,
        0 as users_over_3_touches_7d_delta,
        0 as over_touch_3d_delta,
        0 as over_touch_7d_delta
    from new_user_events
    union all
    select
        event_date,
        0 as total_users_delta,
        interacting_users_delta,
        0 as touches_7d_delta,
        0 as touched_users_7d_delta,
        0 as users_over_3_touches_7d_delta,
        0 as over_touch_3d_delta,
        0 as over_touch_7d_delta
    from interacting_user_events
    union all
    select
        event_date,
        0 as total_users_delta,
        0 as interacting_users_delta,
        touches_7d_delta,
        touched_users_7d_delta,
        users_over_3_touches_7d_delta,
        0 as over_touch_3d_delta,
        0 as over_touch_7d_delta
    from trailing_touch_events
    union all
    select
        event_date,
        0 as total_users_delta,
        0 as interacting_users_delta,
        0 as touches_7d_delta,
        0 as touched_users_7d_delta,
        0 as users_over_3_touches_7d_delta,
        over_touch_3d_delta,
        over_touch_7d_delta
    from over_touch_events
    union all
    -- every built day, so each finds its levels by equality
    select
        date as event_date,
        0 as total_users_delta,
        0 as interacting_users_delta,
        0 as touches_7d_delta,
        0 as touched_users_7d_delta,
        0 as users_over_3_touches_7d_delta,
        0 as over_touch_3d_delta,
        0 as over_touch_7d_delta
    from days

),

level_changes as (

    select
        event_date,
        sum(total_users_delta) as total_users_delta,
        sum(interacting_users_delta) as interacting_users_delta,
        sum(touches_7d_delta) as touches_7d_delta,
        sum(touched_users_7d_delta) as touched_users_7d_delta,
        sum(users_over_3_touches_7d_delta) as users_over_3_touches_7d_delta,
        sum(over_touch_3d_delta) as over_touch_3d_delta,
        sum(over_touch_7d_delta) as over_touch_7d_delta
    from level_events
    group by event_date

),

-- each count as of the end of every day: running sums of the changes in date order
running_levels as (

    select
        event_date,
        sum(total_users_delta) over (
            order by event_date rows between unbounded preceding and current row
        ) as total_users,
        sum(interacting_users_delta) over (
            order by event_date rows between unbounded preceding and current row
        ) as interacting_users,
        sum(touches_7d_delta) over (
            order by event_date rows between unbounded preceding and current row
        ) as touches_7d,
        sum(touched_users_7d_delta) over (
            order by event_date rows between unbounded preceding and current row
        ) as touched_users_7d,
        sum(users_over_3_touches_7d_delta) over (
            order by event_date rows between unbounded preceding and current row
        ) as users_over_3_touches_7d,
        sum(over_touch_3d_delta) over (
            order by event_date rows between unbounded preceding and current row
        ) as over_touch_3d_users,
        sum(over_touch_7d_delta) over (
            order by event_date rows between unbounded preceding and current row
        ) as over_touch_7d_users
    from level_changes

),

-- SLA ---------------------------------------------------------------------------------------

inbound_chats as (

    select *
    from {{ interactions }}
    where
        channel = 'wecom_1v1'
        and direction = 'inbound'
        and scenario = 'chat'
        and {{ measurement_in_run('occurred_date', run_start, 1) }}

),

staff_replies as (

    select *
    from {{ interactions }}
    where
        channel = 'wecom_1v1'
        and direction = 'outbound'
        and scenario = 'service_reply'
        and {{ measurement_in_run('occurred_date', run_start, 1) }}

),

data_watermark as (

    select max(occurred_at) as watermark_at
    from {{ interactions }}

),

answered_chats as (

    select distinct inbound_chats.interaction_id
    from inbound_chats
    inner join staff_replies
        on
            staff_replies.person_id = inbound_chats.person_id
            and staff_replies.occurred_at >= inbound_chats.occurred_at
            and staff_replies.occurred_at <= {{ dbt.dateadd('minute', sla_minutes, 'inbound_chats.occurred_at') }}

),

sla_of_day as (

    select
        inbound_chats.occurred_date as date,
        count(*) as inbound_chats,
        sum(
            case
                when {{ dbt.dateadd('minute', sla_minutes, 'inbound_chats.occurred_at') }} <= data_watermark.watermark_at
                    then 1
                else 0
            end
        ) as sla_closed_chats,
        sum(
            case
                when
                    {{ dbt.dateadd('minute', sla_minutes, 'inbound_chats.occurred_at') }} <= data_watermark.watermark_at
                    and answered_chats.interaction_id is null
                    then 1
                else 0
            end
        ) as sla_breaches
    from inbound_chats
    cross join data_watermark
    left join answered_chats
        on answered_chats.interaction_id = inbound_chats.interaction_id
    group by inbound_chats.occurred_date

),

final as (

    select
        -- day
        days.date,

        -- interaction rate
        cast(levels.total_users as {{ dbt.type_bigint() }}) as total_users,
        cast(levels.interacting_users as {{ dbt.type_bigint() }}) as interacting_users,
        1.0 * levels.interacting_users / nullif(levels.total_users, 0) as interaction_rate,

        -- touches
        coalesce(touches_of_day.touches, 0) as touches,
        coalesce(touches_of_day.touched_users, 0) as touched_users,
        cast(levels.touches_7d as {{ dbt.type_bigint() }}) as touches_7d,
        cast(levels.touched_users_7d as {{ dbt.type_bigint() }}) as touched_users_7d,
        1.0 * levels.touches_7d / nullif(levels.touched_users_7d, 0) as touches_per_user_week,
        1.0 * levels.users_over_3_touches_7d / nullif(levels.touched_users_7d, 0) as over_3_touches_week_share,

        -- channel mix of the day's touches
        1.0 * touches_of_day.wecom_1v1_touches / nullif(touches_of_day.touches, 0) as wecom_1v1_share,
        1.0 * touches_of_day.wecom_group_touches / nullif(touches_of_day.touches, 0) as wecom_group_share,
        1.0 * touches_of_day.miniprogram_touches / nullif(touches_of_day.touches, 0) as miniprogram_share,
        1.0 * touches_of_day.sms_touches / nullif(touches_of_day.touches, 0) as sms_share,
        1.0 * touches_of_day.wecom_group_touches / nullif(touches_of_day.touches, 0) as community_share,

        -- over-touch
        cast(levels.over_touch_3d_users as {{ dbt.type_bigint() }}) as over_touch_3d_users,
        1.0 * levels.over_touch_3d_users / nullif(levels.total_users, 0) as over_touch_3d_share,
        cast(levels.over_touch_7d_users as {{ dbt.type_bigint() }}) as over_touch_7d_users,
        1.0 * levels.over_touch_7d_users / nullif(levels.total_users, 0) as over_touch_7d_share,

        -- SLA
        coalesce(sla_of_day.inbound_chats, 0) as inbound_chats,
        cast(coalesce(sla_of_day.sla_closed_chats, 0) as {{ dbt.type_bigint() }}) as sla_closed_chats,
        cast(coalesce(sla_of_day.sla_breaches, 0) as {{ dbt.type_bigint() }}) as sla_breaches,
        1.0 * sla_of_day.sla_breaches / nullif(sla_of_day.sla_closed_chats, 0) as sla_2h_breach_rate
    from days
    inner join running_levels as levels
        on levels.event_date = days.date
    left join touches_of_day
        on touches_of_day.date = days.date
    left join sla_of_day
        on sla_of_day.date = days.date

)

select * from final

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
        materialized='incremental',
        unique_key='date',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}

{%- set run_start = measurement_run_start('date') -%}

{%- set sla_minutes = 120 -%}

with

users as (select * from {{ ref('dim_users') }}),
interactions as (select * from {{ ref('fct_interactions') }}),
calendar as (select * from {{ ref('int_measurement__calendar') }}),

days as (

    select distinct date_day as date
    from calendar
    where {{ measurement_in_run('date_day', run_start, 1) }}

),

-- users -------------------------------------------------------------------------------------

new_users_by_date as (

    select
        first_seen_date,
        count(*) as new_users
    from users
    group by first_seen_date

),

total_users as (

    select
        days.date,
        coalesce(sum(new_users_by_date.new_users), 0) as total_users
    from days
    left join new_users_by_date
        on new_users_by_date.first_seen_date <= days.date
    group by days.date

),

inbound_person_days as (

    select distinct
        person_id,
        occurred_date
    from interactions
    where
        direction = 'inbound'
        and {{ measurement_in_run('occurred_date', run_start, 30) }}

),

interacting_users as (

    select
        days.date,
        count(distinct inbound_person_days.person_id) as interacting_users
    from days
    inner join inbound_person_days
        on
            inbound_person_days.occurred_date <= days.date
            and inbound_person_days.occurred_date > {{ measurement_add_days('days.date', -30) }}
    group by days.date

),

-- touches -----------------------------------------------------------------------------------

touches as (

    select *
    from interactions
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

touch_person_days as (

    select
        person_id,
        occurred_date,
        count(*) as touches
    from touches
    group by person_id, occurred_date

),

-- per person and day: touches in the trailing 7 days and touched days in the last 3 / 7 days
person_trailing_touches as (

    select
        days.date,
        touch_person_days.person_id,
        sum(touch_person_days.touches) as touches_7d,
        count(*) as touched_days_7d,
        sum(
            case
                when touch_person_days.occurred_date > {{ measurement_add_days('days.date', -3) }}
                    then 1
                else 0
            end
        ) as touched_days_3d
    from days
    inner join touch_person_days
        on
            touch_person_days.occurred_date <= days.date
            and touch_person_days.occurred_date > {{ measurement_add_days('days.date', -7) }}
    group by days.date, touch_person_days.person_id

),

trailing_touches as (

    select
        date,
        sum(touches_7d) as touches_7d,
        count(*) as touched_users_7d,
        sum(case when touches_7d > 3 then 1 else 0 end) as users_over_3_touches_7d,
        sum(case when touched_days_3d = 3 then 1 else 0 end) as over_touch_3d_users,
        sum(case when touched_days_7d = 7 then 1 else 0 end) as over_touch_7d_users
    from person_trailing_touches
    group by date

),

-- SLA ---------------------------------------------------------------------------------------

inbound_chats as (

    select *
    from interactions
    where
        channel = 'wecom_1v1'
        and direction = 'inbound'
        and scenario = 'chat'
        and {{ measurement_in_run('occurred_date', run_start, 1) }}

),

staff_replies as (

    select *
    from interactions
    where
        channel = 'wecom_1v1'
        and direction = 'outbound'
        and scenario = 'service_reply'
        and {{ measurement_in_run('occurred_date', run_start, 1) }}

),

data_watermark as (

    select max(occurred_at) as watermark_at
    from interactions

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
        cast(total_users.total_users as {{ dbt.type_bigint() }}) as total_users,
        coalesce(interacting_users.interacting_users, 0) as interacting_users,
        1.0 * coalesce(interacting_users.interacting_users, 0)
        / nullif(total_users.total_users, 0) as interaction_rate,

        -- touches
        coalesce(touches_of_day.touches, 0) as touches,
        coalesce(touches_of_day.touched_users, 0) as touched_users,
        cast(coalesce(trailing_touches.touches_7d, 0) as {{ dbt.type_bigint() }}) as touches_7d,
        coalesce(trailing_touches.touched_users_7d, 0) as touched_users_7d,
        1.0 * trailing_touches.touches_7d / nullif(trailing_touches.touched_users_7d, 0) as touches_per_user_week,
        1.0 * trailing_touches.users_over_3_touches_7d
        / nullif(trailing_touches.touched_users_7d, 0) as over_3_touches_week_share,

        -- channel mix of the day's touches
        1.0 * touches_of_day.wecom_1v1_touches / nullif(touches_of_day.touches, 0) as wecom_1v1_share,
        1.0 * touches_of_day.wecom_group_touches / nullif(touches_of_day.touches, 0) as wecom_group_share,
        1.0 * touches_of_day.miniprogram_touches / nullif(touches_of_day.touches, 0) as miniprogram_share,
        1.0 * touches_of_day.sms_touches / nullif(touches_of_day.touches, 0) as sms_share,
        1.0 * touches_of_day.wecom_group_touches / nullif(touches_of_day.touches, 0) as community_share,

        -- over-touch
        cast(coalesce(trailing_touches.over_touch_3d_users, 0) as {{ dbt.type_bigint() }}) as over_touch_3d_users,
        1.0 * coalesce(trailing_touches.over_touch_3d_users, 0)
        / nullif(total_users.total_users, 0) as over_touch_3d_share,
        cast(coalesce(trailing_touches.over_touch_7d_users, 0) as {{ dbt.type_bigint() }}) as over_touch_7d_users,
        1.0 * coalesce(trailing_touches.over_touch_7d_users, 0)
        / nullif(total_users.total_users, 0) as over_touch_7d_share,

        -- SLA
        coalesce(sla_of_day.inbound_chats, 0) as inbound_chats,
        cast(coalesce(sla_of_day.sla_closed_chats, 0) as {{ dbt.type_bigint() }}) as sla_closed_chats,
        cast(coalesce(sla_of_day.sla_breaches, 0) as {{ dbt.type_bigint() }}) as sla_breaches,
        1.0 * sla_of_day.sla_breaches / nullif(sla_of_day.sla_closed_chats, 0) as sla_2h_breach_rate
    from days
    inner join total_users
        on total_users.date = days.date
    left join interacting_users
        on interacting_users.date = days.date
    left join touches_of_day
        on touches_of_day.date = days.date
    left join trailing_touches
        on trailing_touches.date = days.date
    left join sla_of_day
        on sla_of_day.date = days.date

)

select * from final

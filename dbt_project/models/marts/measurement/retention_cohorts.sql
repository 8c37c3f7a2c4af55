-- One row per cohort day x first channel x day n (0..30): how many of the persons first seen on
-- cohort_date were active on calendar day cohort_date + n. The denominator is the whole cohort.
-- A cell exists only once its day has data (cohorts too young for day n have no day-n row) and
-- only for cohorts first seen on or after the first day with data.
-- Incremental by activity_date (= cohort_date + day_n): a new day adds exactly the cells it
-- observes, one per (cohort, channel) of the 31 cohorts it can be day 0..30 of; a run also
-- rebuilds from the earliest day a late row loaded in the window or a person whose identity changed
-- (a merge moves cohort sizes) belongs to, and adds the days after the latest built activity_date
-- that earlier runs had no data for yet (measurement_run_start).
{{
    config(
        materialized=incremental_or_table(),
        unique_key='activity_date',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}

{%- set run_start = measurement_run_start('activity_date') -%}

with

users as (select * from {{ ref('dim_users') }}),
activity_days as (select * from {{ ref('int_measurement__activity_days') }}),
calendar as (select * from {{ ref('int_measurement__calendar') }}),

day_numbers as (
    {{ measurement_integers(30, 'day_n') }}
),

data_bounds as (

    select
        min(date_day) as data_start_date,
        max(date_day) as data_end_date
    from calendar
    where date_day < {{ measurement_window_end() }}

),

cohorts as (

    select
        users.first_seen_date as cohort_date,
        users.first_channel as cohort_channel,
        count(*) as cohort_size
    from users
    cross join data_bounds
    where users.first_seen_date >= data_bounds.data_start_date
    group by users.first_seen_date, users.first_channel

),

cells as (

    select
        cohorts.cohort_date,
        cohorts.cohort_channel,
        day_numbers.day_n,
        {{ measurement_add_days('cohorts.cohort_date', 'day_numbers.day_n') }} as activity_date,
        cohorts.cohort_size
    from cohorts
    cross join day_numbers

),

observable_cells as (

    select cells.*
    from cells
    cross join data_bounds
    where
        cells.activity_date <= data_bounds.data_end_date
        and {{ measurement_in_run('cells.activity_date', run_start) }}

),

retained as (

    select
        users.first_seen_date as cohort_date,
        users.first_channel as cohort_channel,
        activity_days.activity_date,
        count(distinct users.person_id) as retained_users
    from users
    inner join activity_days
        on activity_days.person_id = users.person_id
    where
        activity_days.activity_date >= users.first_seen_date
        and {{ measurement_days_between('users.first_seen_date', 'activity_days.activity_date') }} <= 30
        and {{ measurement_in_run('activity_days.activity_date', run_start) }}
    group by users.first_seen_date, users.first_channel, activity_days.activity_date

),

final as (

    select
        -- keys
        observable_cells.cohort_date,
        observable_cells.cohort_channel,
        observable_cells.day_n,
        observable_cells.activity_date,

        -- measures
        observable_cells.cohort_size,
        coalesce(retained.retained_users, 0) as retained_users,
        1.0 * coalesce(retained.retained_users, 0) / observable_cells.cohort_size as retention_rate
    from observable_cells
    left join retained
        on
            retained.cohort_date = observable_cells.cohort_date
            and retained.cohort_channel = observable_cells.cohort_channel
            and retained.activity_date = observable_cells.activity_date

)

select * from final

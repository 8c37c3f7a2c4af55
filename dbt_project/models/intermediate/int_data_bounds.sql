-- One row: the bounds of the loaded data, the one definition every SQL model reads them from.
-- data_end_date is warehouse/bounds.py data_end (scoring, publication and training cutoffs): the
-- exclusive end of the loaded activity, the day after the last order or interaction, for a brand
-- with neither the day after the last person was first seen.
-- Ephemeral: two aggregates over the facts, inlined where read, so a model built on its own over
-- hand-written marts (tests/dbt, tests/activation) needs no bounds table.
{{ config(materialized='ephemeral') }}

with

orders as (select * from {{ ref('fct_orders') }}),
interactions as (select * from {{ ref('fct_interactions') }}),
users as (select * from {{ ref('dim_users') }}),

activity_dates as (

    select ordered_date as activity_date from orders
    union all
    select occurred_date as activity_date from interactions

),

activity_bounds as (

    select
        min(activity_date) as first_activity_date,
        max(activity_date) as last_activity_date
    from activity_dates

),

final as (

    select
        -- the first and last day with an order or an interaction (inclusive; null without any)
        activity_bounds.first_activity_date,
        activity_bounds.last_activity_date,
        -- exclusive end of the loaded data
        {{ measurement_add_days(
            'coalesce(activity_bounds.last_activity_date, (select cast(max(first_seen_at) as date) from users))',
            1,
        ) }} as data_end_date
    from activity_bounds

)

select * from final

-- The persons as the incremental measurement marts last saw them: one row per person_id with the
-- first day and channel the marts counted the person on, and their first order day (user_rfm
-- rebuilds from it). The next incremental run compares dim_users with it (measurement_run_start)
-- and rebuilds the days of every person whose identity changed in between: a merge, a new anchor,
-- an earlier first sighting from a late row.
-- Built after the marts (depends_on below), so a run whose marts failed keeps the older state.
-- Internal (schema intermediate), never published.
{{ config(materialized='table', schema='intermediate') }}

-- depends_on: {{ ref('engagement_daily') }}
-- depends_on: {{ ref('retention_cohorts') }}
-- depends_on: {{ ref('user_rfm') }}

with

users as (select * from {{ ref('dim_users') }}),

-- the first order day, for the buyer marts (user_rfm): a changed person changes them from there
first_orders as (
    {{ measurement_first_order_dates() }}
),

final as (

    select
        users.person_id,
        users.first_seen_date,
        users.first_channel,
        first_orders.first_order_date
    from users
    left join first_orders
        on first_orders.person_id = users.person_id

)

select * from final

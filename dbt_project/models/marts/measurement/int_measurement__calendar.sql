-- The business days that have data: every date with an order or an interaction. Snapshots and
-- daily marts are computed for these days only (capped to the run window by each model).
{{ config(materialized='ephemeral') }}

with

orders as (select * from {{ ref('fct_orders') }}),
interactions as (select * from {{ ref('fct_interactions') }}),

observed_dates as (

    select ordered_date as date_day from orders
    union
    select occurred_date as date_day from interactions

),

final as (

    select date_day
    from observed_dates
    where date_day is not null

)

select * from final

-- The loaded range as a date spine: every calendar day from the first to the last day with an order
-- or an interaction, days with no activity at all included (a daily mart that skipped them would
-- show a quiet day as a missing one). Daily marts cap it to the days their run builds.
{{ config(materialized='ephemeral') }}

with

orders as (select * from {{ ref('fct_orders') }}),
interactions as (select * from {{ ref('fct_interactions') }}),

observed_dates as (

    select ordered_date as date_day from orders
    union
    select occurred_date as date_day from interactions

),

data_bounds as (

    select
        min(date_day) as first_date,
        max(date_day) as last_date
    from observed_dates

),

-- 0 .. 99,999 (273 years of days) from five decimal digits: portable, no generate_series
digits as (
    {{ measurement_integers(9, 'digit') }}
),

day_offsets as (

    select
        ones.digit
        + 10 * tens.digit
        + 100 * hundreds.digit
        + 1000 * thousands.digit
        + 10000 * ten_thousands.digit as day_offset
    from digits as ones
    cross join digits as tens
    cross join digits as hundreds
    cross join digits as thousands
    cross join digits as ten_thousands

),

final as (

    select {{ measurement_add_days('data_bounds.first_date', 'day_offsets.day_offset') }} as date_day
    from data_bounds
    inner join day_offsets
        on day_offsets.day_offset <= {{ measurement_days_between('data_bounds.first_date', 'data_bounds.last_date') }}

)

select * from final

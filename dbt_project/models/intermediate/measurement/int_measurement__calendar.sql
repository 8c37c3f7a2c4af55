-- The loaded range as a date spine: every calendar day from the first to the last day with an order
-- or an interaction, days with no activity at all included (a daily mart that skipped them would
-- show a quiet day as a missing one). Daily marts cap it to the days their run builds.
{{ config(materialized='ephemeral') }}

with

data_bounds as (select * from {{ ref('int_data_bounds') }}),

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

    select {{ measurement_add_days('data_bounds.first_activity_date', 'day_offsets.day_offset') }} as date_day
    from data_bounds
    inner join day_offsets
        on day_offsets.day_offset <= {{ measurement_days_between('data_bounds.first_activity_date', 'data_bounds.last_activity_date') }}

)

select * from final

-- The snapshots the point-in-time features are computed at (int_models__person_features), one row
-- each: the training snapshots (every month start after the first person was first seen, up to
-- the loaded data's end: the monthly trainings' cutoffs, and, where the 30-day churn window is
-- complete, ml/churn.training_snapshots, the labelled churn training rows) and the
-- scoring snapshots (the loaded data's end, warehouse/bounds.data_end, and the run's scoring
-- cutoff: the run window's end, never past the loaded data). A date can be both.
{{ config(materialized='table') }}

{%- set churn_horizon_days = 30 -%}

with

users as (select * from {{ ref('dim_users') }}),
loaded_bounds as (select * from {{ ref('int_data_bounds') }}),

digits as (
    {{ measurement_integers(9, 'digit') }}
),

data_bounds as (

    select
        cast(
            {{ dbt.date_trunc('month', '(select min(first_seen_at) from users)') }} as date
        ) as first_seen_month,
        (select data_end_date from loaded_bounds) as data_end_date

),

month_offsets as (

    select
        ones.digit
        + 10 * tens.digit
        + 100 * hundreds.digit as month_offset
    from digits as ones
    cross join digits as tens
    cross join digits as hundreds

),

-- month starts after the first person's first day (monthly_snapshots rounds up to a month start)
training_dates as (

    select
        cast({{ dbt.dateadd('month', 'month_offsets.month_offset', 'data_bounds.first_seen_month') }} as date)
            as snapshot_date
    from data_bounds
    cross join month_offsets
    where month_offsets.month_offset >= 1

),

scoring_dates as (

    select data_end_date as snapshot_date from data_bounds
    union
    select least({{ run_window_end() }}, data_end_date) as snapshot_date from data_bounds

),

snapshot_dates as (

    select
        snapshot_date,
        false as is_training,
        true as is_scoring
    from scoring_dates
    where snapshot_date is not null
    union all
    select
        training_dates.snapshot_date,
        true as is_training,
        false as is_scoring
    from training_dates
    cross join data_bounds
    -- every month start in the loaded data: the churn training reads those whose window is
    -- complete, the monthly trainings (segmentation) read their month's end
    where training_dates.snapshot_date <= data_bounds.data_end_date

),

final as (

    select
        snapshot_dates.snapshot_date,
        bool_or(snapshot_dates.is_training) as is_training,
        bool_or(snapshot_dates.is_scoring) as is_scoring,
        cast(snapshot_dates.snapshot_date as timestamp) as cutoff_at,
        {{ measurement_add_days('snapshot_dates.snapshot_date', churn_horizon_days) }}
            as churn_window_end_date,
        {{ measurement_add_days('snapshot_dates.snapshot_date', churn_horizon_days) }}
        <= max(data_bounds.data_end_date) as has_complete_churn_window
    from snapshot_dates
    cross join data_bounds
    group by snapshot_dates.snapshot_date

)

select * from final

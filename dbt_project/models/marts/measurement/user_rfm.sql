-- One row per buyer and as-of business day: recency, frequency and monetary from the person's
-- non-refunded orders through the end of the day, scored 1-5 (and 1-3 for the plan's tiers) with
-- NTILE over the day's buyers. A snapshot for every day of the loaded range (a day without any
-- order still scores the buyers so far). Incremental by as_of_date: a run rebuilds the snapshots
-- of the days in [min_date, max_date), any day after the latest snapshot, and every day from the
-- first day of a late order loaded in the window or the first order day of a person whose
-- identity changed (a merge re-keys the buyer's orders; a non-buyer's merge changes no snapshot)
-- (measurement_run_start).
{{
    config(
        materialized=incremental_or_table(),
        unique_key='as_of_date',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}

{%- set run_start = measurement_run_start('as_of_date', 'first_order_date') -%}

with

purchase_days as (select * from {{ ref('int_measurement__purchase_days') }}),
calendar as (select * from {{ ref('int_measurement__calendar') }}),
rfm_tiers as (select * from {{ ref('rfm_tiers') }}),
rfm_segments as (select * from {{ ref('rfm_segments') }}),

snapshot_days as (

    select distinct date_day as as_of_date
    from calendar
    where {{ measurement_in_run('date_day', run_start) }}

),

-- a buyer's lifetime measures after each purchase day, valid until the next one: running totals
-- over the person's purchase days (O(purchases)), not a re-aggregation per snapshot day
purchase_running_totals as (

    select
        person_id,
        purchase_date,
        -- the last purchase day holds until the end of the run's window (no snapshot day reaches it)
        coalesce(
            lead(purchase_date) over (partition by person_id order by purchase_date),
            {{ measurement_window_end() }}
        ) as valid_until_date,
        row_number() over (partition by person_id order by purchase_date) as frequency,
        sum(orders) over (
            partition by person_id order by purchase_date rows between unbounded preceding and current row
        ) as orders,
        sum(amount_cny) over (
            partition by person_id order by purchase_date rows between unbounded preceding and current row
        ) as monetary
    from purchase_days

),

-- each snapshot day takes every buyer's totals as of their latest purchase day on or before it:
-- the range [purchase_date, valid_until_date) holds exactly one row per buyer and day
buyer_measures as (

    select
        snapshot_days.as_of_date,
        purchase_running_totals.person_id,
        purchase_running_totals.purchase_date as last_purchase_date,
        purchase_running_totals.frequency,
        cast(purchase_running_totals.orders as {{ dbt.type_bigint() }}) as orders,
        cast(purchase_running_totals.monetary as {{ money_cny_type() }}) as monetary
    from snapshot_days
    inner join purchase_running_totals
        on
            purchase_running_totals.purchase_date <= snapshot_days.as_of_date
            and purchase_running_totals.valid_until_date > snapshot_days.as_of_date

),

with_recency as (

    select
        *,
        {{ measurement_days_between('last_purchase_date', 'as_of_date') }} as recency_days
    from buyer_measures

),

-- NTILE puts the worst buyers first so the best get the top score; ties on the measure are
-- broken by person_id ascending, so a tie at a boundary splits deterministically. monetary is an
-- exact decimal: a float sum would break the tie by the order the rows were added in.
scored as (

    select
        *,
        ntile(5) over (partition by as_of_date order by recency_days desc, person_id asc) as r_score,
        ntile(5) over (partition by as_of_date order by frequency, person_id) as f_score,
        ntile(5) over (partition by as_of_date order by monetary, person_id) as m_score,
        ntile(3) over (partition by as_of_date order by recency_days desc, person_id asc) as r3_score,
        ntile(3) over (partition by as_of_date order by monetary, person_id) as m3_score
    from with_recency

),

final as (

    select
        -- ids
        scored.person_id,
        scored.as_of_date,

        -- measures
        scored.recency_days,
        scored.frequency,
        scored.orders,
        scored.monetary,

        -- scores
        scored.r_score,
        scored.f_score,
        scored.m_score,
        scored.r3_score,
        scored.m3_score,

        -- segments
        coalesce(rfm_tiers.rfm_tier, 'other') as rfm_tier,
        rfm_segments.rfm_segment,

        -- dates
        scored.last_purchase_date
    from scored
    left join rfm_tiers
        on rfm_tiers.r3_score = scored.r3_score and rfm_tiers.m3_score = scored.m3_score
    left join rfm_segments
        on rfm_segments.r_score = scored.r_score and rfm_segments.f_score = scored.f_score

)

select * from final

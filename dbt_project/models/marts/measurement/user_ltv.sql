-- One row per person: the plan's formula LTV (2.1.2)
--   ltv_formula = sum over stages s of
--       conversion_rate_s x aov_cny x orders_per_month x stage_months_s x retention_coefficient_s
-- with the stages and their coefficients in the ltv_coefficients seed. Persons without a
-- non-refunded order have an LTV of 0 by this formula (the probabilistic CLV covers them).
-- The probabilistic columns (BG/NBD + Gamma-Gamma) come from the Python model asset ml/user_clv,
-- so this model runs in the dbt step after the models (tag after_ml).
{{ config(tags=['after_ml']) }}

with

users as (select * from {{ ref('dim_users') }}),
buyers as (select * from {{ ref('int_measurement__buyers') }}),
data_bounds as (select * from {{ ref('int_data_bounds') }}),
ltv_coefficients as (select * from {{ ref('ltv_coefficients') }}),
clv as (select * from {{ ref('stg_ml__user_clv') }}),

stage_weights as (

    select
        sum(conversion_rate * stage_months * retention_coefficient) as weighted_stage_months,
        sum(stage_months) as horizon_months
    from ltv_coefficients

),

person_factors as (

    select
        users.person_id,
        data_bounds.last_activity_date as as_of_date,
        coalesce(buyers.purchase_days, 0) as purchase_days,
        coalesce(buyers.orders, 0) as orders,
        cast(coalesce(buyers.monetary_cny, 0) as {{ money_cny_type() }}) as monetary_cny,
        -- doubles, as DuckDB divides decimals (Spark keeps a decimal, rounded to 6 places)
        cast(buyers.monetary_cny as double) / nullif(buyers.orders, 0) as aov_unrounded_cny,
        -- tenure from first seen to the last day with data, at least one month (30.4375 days)
        cast(greatest(
            {{ measurement_days_between('users.first_seen_date', 'data_bounds.last_activity_date') }} + 1,
            30.4375
        ) as double) / 30.4375 as tenure_months
    from users
    cross join data_bounds
    left join buyers
        on buyers.person_id = users.person_id

),

final as (

    select
        -- ids
        person_factors.person_id,

        -- formula factors
        person_factors.as_of_date,
        person_factors.orders,
        person_factors.purchase_days,
        person_factors.monetary_cny,
        {{ money_cny('person_factors.aov_unrounded_cny') }} as aov_cny,
        person_factors.tenure_months,
        cast(person_factors.orders as double) / person_factors.tenure_months as orders_per_month,
        stage_weights.horizon_months,
        stage_weights.weighted_stage_months,

        -- LTV (CNY over the seed's horizon), from the unrounded order value, rounded to the cent
        {{ money_cny(
            'coalesce(person_factors.aov_unrounded_cny'
            ~ ' * (cast(person_factors.orders as double) / person_factors.tenure_months)'
            ~ ' * stage_weights.weighted_stage_months, 0)'
        ) }} as ltv_formula,

        -- probabilistic CLV (null for persons who never bought); money to the cent
        clv.p_alive,
        clv.expected_orders_365d,
        {{ money_cny('clv.expected_order_value') }} as expected_order_value,
        {{ money_cny('clv.clv_365d') }} as clv_365d
    from person_factors
    cross join stage_weights
    left join clv on clv.person_id = person_factors.person_id

)

select * from final

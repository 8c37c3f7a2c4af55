-- One row per person with at least one non-refunded order: first and second purchase days (a
-- second order on the first day is not a repurchase), lifetime purchase days, orders and spend.
{{ config(materialized='ephemeral') }}

with

purchase_days as (select * from {{ ref('int_measurement__purchase_days') }}),

ranked as (

    select
        person_id,
        purchase_date,
        orders,
        amount_cny,
        row_number() over (partition by person_id order by purchase_date) as purchase_day_number
    from purchase_days

),

final as (

    select
        person_id,
        min(purchase_date) as first_purchase_date,
        min(case when purchase_day_number = 2 then purchase_date end) as second_purchase_date,
        max(purchase_date) as last_purchase_date,
        count(*) as purchase_days,
        cast(sum(orders) as {{ dbt.type_bigint() }}) as orders,
        sum(amount_cny) as monetary_cny
    from ranked
    group by person_id

)

select * from final

-- One row per person and purchase day: the non-refunded orders of the day. Two orders on one
-- day are one purchase occasion (frequency, repurchase) but both count in orders and monetary.
{{ config(materialized='ephemeral') }}

with

orders as (select * from {{ ref('fct_orders') }}),

kept_orders as (

    select *
    from orders
    where not coalesce(is_refunded, false) and person_id is not null

),

final as (

    select
        person_id,
        ordered_date as purchase_date,
        count(*) as orders,
        -- exact cents whatever type fct_orders has (an older build holds DOUBLE)
        sum({{ money_cny('amount') }}) as amount_cny
    from kept_orders
    group by person_id, ordered_date

)

select * from final

-- One row per person and business day on which the person was active: placed an order (refunded
-- orders count: the visit and the purchase decision happened) or had an inbound interaction.
{{ config(materialized='ephemeral') }}

with

orders as (select * from {{ ref('fct_orders') }}),
interactions as (select * from {{ ref('fct_interactions') }}),

activity_events as (

    select
        person_id,
        ordered_date as activity_date,
        1 as is_order,
        0 as is_inbound
    from orders
    where person_id is not null

    union all

    select
        person_id,
        occurred_date as activity_date,
        0 as is_order,
        1 as is_inbound
    from interactions
    where direction = 'inbound' and person_id is not null

),

final as (

    select
        person_id,
        activity_date,
        max(is_order) = 1 as has_order,
        max(is_inbound) = 1 as has_inbound
    from activity_events
    group by person_id, activity_date

)

select * from final

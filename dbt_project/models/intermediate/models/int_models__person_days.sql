-- One row per person and day with an order or an interaction: the day's measures the point-in-time
-- features (int_models__person_features) sum over their windows. A trailing window never splits
-- a day (the cutoff is a day's 00:00), so summing days is summing facts; reading this table
-- instead of the facts is what keeps the features' cost proportional to active person-days.
-- Orders with a refund, with no amount or no discount are counted as ml/features.build_features
-- counts them; amounts add up in exact cents.
{{ config(materialized='table') }}

with

orders as (select * from {{ ref('fct_orders') }}),
interactions as (select * from {{ ref('fct_interactions') }}),

order_facts as (

    select
        person_id,
        ordered_at,
        cast(ordered_at as date) as activity_date,
        not coalesce(is_refunded, false) as is_kept,
        coalesce(is_refunded, false) as is_refunded,
        coalesce(coupon_used, false) as is_coupon_used,
        cast(amount as {{ money_cny_type() }}) as amount_cny,
        case
            when cast(amount as double) + coalesce(cast(discount_amount as double), 0.0) > 0
                then
                    coalesce(cast(discount_amount as double), 0.0)
                    / (cast(amount as double) + coalesce(cast(discount_amount as double), 0.0))
            else 0.0
        end as discount_depth
    from orders
    where person_id is not null and ordered_at is not null

),

order_days as (

    select
        person_id,
        activity_date,
        count(*) as orders_all,
        count(*) filter (where is_refunded) as orders_refunded,
        count(*) filter (where is_kept) as orders_kept,
        count(amount_cny) filter (where is_kept) as orders_kept_with_amount,
        sum(amount_cny) filter (where is_kept) as amount_kept_cny,
        sum(discount_depth) filter (where is_kept) as discount_depth_kept,
        count(*) filter (where is_kept and is_coupon_used) as coupon_orders_kept,
        max(ordered_at) filter (where is_kept) as last_kept_ordered_at,
        max(ordered_at) as last_ordered_at
    from order_facts
    group by person_id, activity_date

),

interaction_days as (

    select
        person_id,
        cast(occurred_at as date) as activity_date,
        count(*) filter (where direction = 'inbound') as inbound,
        count(*) filter (where direction = 'inbound' and channel = 'miniprogram') as miniprogram_inbound,
        {%- for scenario in ['page_view', 'add_to_cart', 'share', 'review', 'task_complete', 'coupon_claim'] %}
            count(*) filter (
                where direction = 'inbound' and channel = 'miniprogram' and scenario = '{{ scenario }}'
            ) as {{ scenario }}_events,
        {%- endfor %}
        count(*) filter (where direction = 'inbound' and channel = 'wecom_1v1') as wecom_1v1_inbound,
        count(*) filter (where direction = 'outbound') as outbound,
        count(*) filter (where direction = 'outbound' and channel = 'wecom_group') as wecom_group_outbound,
        max(occurred_at) filter (where direction = 'inbound') as last_inbound_at
    from interactions
    where person_id is not null and occurred_at is not null
    group by person_id, cast(occurred_at as date)

),

final as (

    select
        coalesce(order_days.person_id, interaction_days.person_id) as person_id,
        coalesce(order_days.activity_date, interaction_days.activity_date) as activity_date,
        coalesce(order_days.orders_all, 0) as orders_all,
        coalesce(order_days.orders_refunded, 0) as orders_refunded,
        coalesce(order_days.orders_kept, 0) as orders_kept,
        coalesce(order_days.orders_kept_with_amount, 0) as orders_kept_with_amount,
        order_days.amount_kept_cny,
        order_days.discount_depth_kept,
        coalesce(order_days.coupon_orders_kept, 0) as coupon_orders_kept,
        order_days.last_kept_ordered_at,
        order_days.last_ordered_at,
        {%- for measure in [
            'inbound', 'miniprogram_inbound', 'page_view_events', 'add_to_cart_events', 'share_events',
            'review_events', 'task_complete_events', 'coupon_claim_events', 'wecom_1v1_inbound', 'outbound',
            'wecom_group_outbound',
        ] %}
            coalesce(interaction_days.{{ measure }}, 0) as {{ measure }},
        {%- endfor %}
        interaction_days.last_inbound_at
    from order_days
    full outer join interaction_days
        on
            interaction_days.person_id = order_days.person_id
            and interaction_days.activity_date = order_days.activity_date

)

select * from final

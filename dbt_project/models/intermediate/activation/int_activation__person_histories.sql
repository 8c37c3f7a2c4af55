-- One row per person with an order, an outbound touch or an inbound interaction before the
-- planned day: the order, touch and activity figures the next-best-action rules look at.
with

plan_days as (select * from {{ ref('int_activation__plan_days') }}),
orders as (select * from {{ ref('fct_orders') }}),
interactions as (select * from {{ ref('fct_interactions') }}),

past_orders as (

    select orders.*
    from orders
    cross join plan_days
    where not orders.is_refunded and orders.ordered_date < plan_days.action_date

),

past_interactions as (

    select interactions.*
    from interactions
    cross join plan_days
    where interactions.occurred_date < plan_days.action_date

),

order_stats as (

    select
        past_orders.person_id,
        min(past_orders.ordered_date) as first_order_date,
        max(past_orders.ordered_date) as last_order_date,
        count(case when past_orders.ordered_date >= plan_days.day_minus_30 then 1 end) as orders_30d
    from past_orders
    cross join plan_days
    group by past_orders.person_id

),

touch_stats as (

    -- outbound touches by the brand: the frequency cap and the scenario histories
    select
        past_interactions.person_id,
        count(case when past_interactions.occurred_date >= plan_days.day_minus_7 then 1 end) as touches_7d,
        count(distinct case
            when past_interactions.occurred_date >= plan_days.streak_start
                then past_interactions.occurred_date
        end) as touch_days_in_streak_window,
        count(case
            when
                past_interactions.scenario like 'recall%'
                and past_interactions.occurred_date >= plan_days.day_minus_14 then 1
        end) as recall_touches_14d,
        count(case
            when
                past_interactions.scenario like 'recall%'
                and past_interactions.occurred_date >= plan_days.day_minus_30 then 1
        end) as recall_touches_30d,
        max(case
            when past_interactions.scenario like 'recall%'
                then past_interactions.occurred_date
        end) as last_recall_date,
        count(case
            when
                past_interactions.scenario in ('new_product', 'new_product_preview')
                and past_interactions.occurred_date >= plan_days.day_minus_30 then 1
        end) as new_product_touches_30d,
        count(case
            when
                past_interactions.scenario = 'ugc_topic'
                and past_interactions.occurred_date >= plan_days.day_minus_6 then 1
        end) as ugc_topic_touches_6d
    from past_interactions
    cross join plan_days
    where past_interactions.direction = 'outbound'
    group by past_interactions.person_id

),

activity_dates as (

    -- the person's own actions: an order or an inbound interaction
    select
        person_id,
        ordered_date as activity_date
    from past_orders
    union all
    select
        person_id,
        occurred_date as activity_date
    from past_interactions
    where direction = 'inbound'

),

activity as (

    select
        person_id,
        max(activity_date) as last_active_date
    from activity_dates
    group by person_id

),

persons as (

    select person_id from order_stats
    union
    select person_id from touch_stats
    union
    select person_id from activity

),

final as (

    select
        -- ids
        persons.person_id,

        -- orders
        order_stats.first_order_date,
        order_stats.last_order_date,
        coalesce(order_stats.orders_30d, 0) as orders_30d,

        -- outbound touches
        coalesce(touch_stats.touches_7d, 0) as touches_7d,
        coalesce(touch_stats.touch_days_in_streak_window, 0) as touch_days_in_streak_window,
        coalesce(touch_stats.recall_touches_14d, 0) as recall_touches_14d,
        coalesce(touch_stats.recall_touches_30d, 0) as recall_touches_30d,
        touch_stats.last_recall_date,
        coalesce(touch_stats.new_product_touches_30d, 0) as new_product_touches_30d,
        coalesce(touch_stats.ugc_topic_touches_6d, 0) as ugc_topic_touches_6d,

        -- own activity
        activity.last_active_date
    from persons
    left join order_stats on order_stats.person_id = persons.person_id
    left join touch_stats on touch_stats.person_id = persons.person_id
    left join activity on activity.person_id = persons.person_id

)

select * from final

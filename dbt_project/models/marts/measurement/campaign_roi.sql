-- One row per campaign x channel, and per channel over all its campaigns (campaign_id `all`): what
-- the campaign cost, whom it reached and kept, and what it returned (plan 5.4 互动成本, 6.3 投入产出).
-- Cost (seed campaign_costs, a campaign's own row or its channel's __default__ row): delivered
-- messages x cost per message + mass sends (the campaign's sends on one day) x cost per mass send
-- + the face value of the campaign's coupons redeemed (x coupon_cost_share) + a fixed cost.
-- Attribution (last touch): a non-refunded order goes to the person's latest campaign touch in
-- the campaign_attribution_days days before it; a coupon is the campaign's when that touch
-- carried a coupon and the order used one (its discount is the face value).
-- Retained: a touched person active (an order or an inbound interaction) on one of the
-- campaign_retention_days days after the campaign's first touch of them.
with

interactions as (select * from {{ ref('fct_interactions') }}),
orders as (select * from {{ ref('fct_orders') }}),
activity_days as (select * from {{ ref('int_measurement__activity_days') }}),
campaign_costs as (select * from {{ ref('campaign_costs') }}),
data_bounds as (select * from {{ ref('int_data_bounds') }}),

sends as (

    select
        interaction_id,
        campaign_id,
        channel,
        person_id,
        scenario,
        content_type,
        occurred_at,
        occurred_date
    from interactions
    where
        direction = 'outbound'
        and campaign_id is not null
        and person_id is not null

),

-- each campaign's rows, and the same rows again as the channel's total (campaign_id `all`)
grouped_sends as (

    select
        sends.campaign_id as campaign_key,
        sends.*
    from sends
    union all
    select
        'all' as campaign_key,
        sends.*
    from sends

),

reach as (

    select
        campaign_key,
        channel,
        case when campaign_key = 'all' then 'all' else min(scenario) end as scenario,
        count(*) as messages,
        count(distinct person_id) as persons_touched,
        min(occurred_at) as first_sent_at,
        max(occurred_at) as last_sent_at
    from grouped_sends
    group by campaign_key, channel

),

mass_sends as (

    select
        campaign_id,
        channel,
        count(distinct occurred_date) as mass_sends
    from sends
    group by campaign_id, channel

),

-- attribution: each non-refunded order to the person's latest campaign touch before it, looked
-- up on the calendar days the window reaches (a join on person and day, not on a range)
-- generated_number 1 .. attribution days + 1: the order's day and the days before it
day_numbers as (

    {{ dbt.generate_series(var('campaign_attribution_days') + 1) }}

),

order_days as (

    select
        orders.order_id,
        orders.person_id,
        orders.ordered_at,
        orders.amount,
        orders.discount_amount,
        coalesce(orders.coupon_used, false) as coupon_used,
        {{ measurement_add_days('orders.ordered_date', '1 - day_numbers.generated_number') }} as touch_date
    from orders
    cross join day_numbers
    where not coalesce(orders.is_refunded, false)

),

order_touches as (

    select
        order_days.order_id,
        order_days.amount,
        order_days.discount_amount,
        order_days.coupon_used,
        sends.campaign_id,
        sends.channel,
        sends.content_type,
        row_number() over (
            partition by order_days.order_id
            order by sends.occurred_at desc, sends.interaction_id desc
        ) as touch_rank
    from order_days
    inner join sends
        on sends.person_id = order_days.person_id and sends.occurred_date = order_days.touch_date
    where
        sends.occurred_at < order_days.ordered_at
        and sends.occurred_at >= {{ dbt.dateadd('day', -var('campaign_attribution_days'), 'order_days.ordered_at') }}

),

attributed as (

    select
        campaign_id,
        channel,
        count(*) as attributed_orders,
        sum(amount) as attributed_revenue,
        sum(case when coupon_used and content_type = 'coupon' then discount_amount else 0 end)
            as redeemed_coupon_value,
        sum(case when coupon_used and content_type = 'coupon' then 1 else 0 end) as redeemed_coupons
    from order_touches
    where touch_rank = 1
    group by campaign_id, channel

),

-- retention: active within the window after the first touch of the campaign (or channel)
first_touches as (

    select
        campaign_key,
        channel,
        person_id,
        min(occurred_date) as first_touch_date
    from grouped_sends
    group by campaign_key, channel, person_id

),

-- each first touch with the person's next active day after it: the first touches and the active
-- days in one sequence per person (on a day, the active day before the touch, so it is not after)
person_timeline as (

    select
        campaign_key,
        channel,
        person_id,
        first_touch_date as event_date,
        1 as event_order,
        cast(null as date) as activity_date
    from first_touches
    union all
    select
        cast(null as {{ dbt.type_string() }}) as campaign_key,
        cast(null as {{ dbt.type_string() }}) as channel,
        person_id,
        activity_date as event_date,
        0 as event_order,
        activity_date
    from activity_days

),

next_activity as (

    select
        campaign_key,
        channel,
        person_id,
        event_date as first_touch_date,
        event_order,
        min(activity_date) over (
            partition by person_id
            order by event_date, event_order
            rows between 1 following and unbounded following
        ) as next_activity_date
    from person_timeline

),

retained as (

    select
        campaign_key,
        channel,
        count(distinct person_id) as retained_users
    from next_activity
    where
        event_order = 1
        and next_activity_date
        <= {{ measurement_add_days('first_touch_date', var('campaign_retention_days')) }}
    group by campaign_key, channel

),

retention_windows as (

    select
        first_touches.campaign_key,
        first_touches.channel,
        max(first_touches.first_touch_date) as last_first_touch_date
    from first_touches
    group by first_touches.campaign_key, first_touches.channel

),

-- costs of each campaign: its own seed row, else the channel's __default__ row
campaign_rows as (

    select
        mass_sends.campaign_id,
        mass_sends.channel,
        mass_sends.mass_sends,
        coalesce(listed.cost_per_message_cny, channel_default.cost_per_message_cny, 0) as cost_per_message_cny,
        coalesce(listed.cost_per_mass_send_cny, channel_default.cost_per_mass_send_cny, 0) as cost_per_mass_send_cny,
        coalesce(listed.coupon_cost_share, channel_default.coupon_cost_share, 1) as coupon_cost_share,
        coalesce(listed.fixed_cost_cny, channel_default.fixed_cost_cny, 0) as fixed_cost_cny
    from mass_sends
    left join campaign_costs as listed
        on listed.channel = mass_sends.channel and listed.campaign_id = mass_sends.campaign_id
    left join campaign_costs as channel_default
        on channel_default.channel = mass_sends.channel and channel_default.campaign_id = '__default__'

),

campaign_costed as (

    select
        campaign_rows.campaign_id,
        campaign_rows.channel,
        campaign_rows.mass_sends,
        coalesce(attributed.attributed_orders, 0) as attributed_orders,
        coalesce(attributed.attributed_revenue, 0) as attributed_revenue,
        coalesce(attributed.redeemed_coupons, 0) as redeemed_coupons,
        {{ money_cny(
            'reach.messages * campaign_rows.cost_per_message_cny'
            ~ ' + campaign_rows.mass_sends * campaign_rows.cost_per_mass_send_cny'
        ) }} as interaction_cost_cny,
        {{ money_cny(
            'coalesce(attributed.redeemed_coupon_value, 0) * campaign_rows.coupon_cost_share'
        ) }} as coupon_cost_cny,
        {{ money_cny('campaign_rows.fixed_cost_cny') }} as fixed_cost_cny
    from campaign_rows
    inner join reach
        on reach.campaign_key = campaign_rows.campaign_id and reach.channel = campaign_rows.channel
    left join attributed
        on attributed.campaign_id = campaign_rows.campaign_id and attributed.channel = campaign_rows.channel

),

-- the campaigns' figures, and their sums per channel
grouped_costs as (

    select
        campaign_id as campaign_key,
        channel,
        mass_sends,
        attributed_orders,
        attributed_revenue,
        redeemed_coupons,
        interaction_cost_cny,
        coupon_cost_cny,
        fixed_cost_cny
    from campaign_costed
    union all
    select
        'all' as campaign_key,
        channel,
        mass_sends,
        attributed_orders,
        attributed_revenue,
        redeemed_coupons,
        interaction_cost_cny,
        coupon_cost_cny,
        fixed_cost_cny
    from campaign_costed

),

costs as (

    select
        campaign_key,
        channel,
        sum(mass_sends) as mass_sends,
        sum(attributed_orders) as attributed_orders,
        cast(sum(attributed_revenue) as {{ money_cny_type() }}) as attributed_revenue_cny,
        sum(redeemed_coupons) as redeemed_coupons,
        cast(sum(interaction_cost_cny) as {{ money_cny_type() }}) as interaction_cost_cny,
        cast(sum(coupon_cost_cny) as {{ money_cny_type() }}) as coupon_cost_cny,
        cast(sum(fixed_cost_cny) as {{ money_cny_type() }}) as fixed_cost_cny
    from grouped_costs
    group by campaign_key, channel

),

final as (

    select
        -- keys
        reach.campaign_key as campaign_id,
        reach.channel,

        -- dimensions
        reach.scenario,
        reach.first_sent_at,
        reach.last_sent_at,

        -- reach
        cast(reach.messages as {{ dbt.type_bigint() }}) as messages,
        cast(costs.mass_sends as {{ dbt.type_bigint() }}) as mass_sends,
        cast(reach.persons_touched as {{ dbt.type_bigint() }}) as persons_touched,
        cast(coalesce(retained.retained_users, 0) as {{ dbt.type_bigint() }}) as retained_users,
        1.0 * coalesce(retained.retained_users, 0) / reach.persons_touched as retention_rate,
        {{ measurement_add_days('retention_windows.last_first_touch_date', var('campaign_retention_days')) }}
        < data_bounds.data_end_date as is_retention_window_closed,

        -- cost
        costs.interaction_cost_cny,
        cast(costs.coupon_cost_cny as {{ money_cny_type() }}) as coupon_cost_cny,
        costs.fixed_cost_cny,
        cast(costs.interaction_cost_cny + costs.coupon_cost_cny + costs.fixed_cost_cny as {{ money_cny_type() }})
            as cost_cny,
        {{ money_cny_per(
            'costs.interaction_cost_cny + costs.coupon_cost_cny + costs.fixed_cost_cny',
            'retained.retained_users',
        ) }} as cost_per_retained_user_cny,
        cast(costs.redeemed_coupons as {{ dbt.type_bigint() }}) as redeemed_coupons,

        -- return
        cast(costs.attributed_orders as {{ dbt.type_bigint() }}) as attributed_orders,
        costs.attributed_revenue_cny,
        -- decimal over decimal is a double
        (costs.attributed_revenue_cny - (costs.interaction_cost_cny + costs.coupon_cost_cny + costs.fixed_cost_cny))
        / nullif(costs.interaction_cost_cny + costs.coupon_cost_cny + costs.fixed_cost_cny, 0) as roi
    from reach
    inner join costs
        on costs.campaign_key = reach.campaign_key and costs.channel = reach.channel
    inner join retention_windows
        on retention_windows.campaign_key = reach.campaign_key and retention_windows.channel = reach.channel
    left join retained
        on retained.campaign_key = reach.campaign_key and retained.channel = reach.channel
    cross join data_bounds

)

select * from final

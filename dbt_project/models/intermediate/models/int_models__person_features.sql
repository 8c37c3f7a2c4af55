-- One row per snapshot date x person first seen before it: the point-in-time features of
-- ml/features.build_features and the churn label of ml/churn.churn_labels, in SQL, so the model
-- assets read one row per person and snapshot instead of every fact.
-- Cutoff: snapshot_date 00:00 local time; features see only facts strictly before it. A trailing
-- window of N days is `age <= N days`, i.e. facts from (snapshot_date - N) 00:00 on: on dates,
-- activity_date >= snapshot_date - N. So the facts are first summed per person and day (a day is
-- never split by a window), then per snapshot with conditional aggregates.
-- Snapshots: every month start after the first person was first seen up to the loaded data's end
-- (the training snapshots, ml/churn.monthly_snapshots, and the monthly training cutoffs), that end
-- itself (warehouse_io.data_end), and the run's scoring cutoff (models._as_of: the run window's
-- end, never past the loaded data).
{{ config(materialized='table') }}

{%- set churn_horizon_days = 30 -%}
{#- ml.features.NO_EVENT_DAYS: "days since" when the person never did the thing -#}
{%- set no_event_days = 730.0 -%}

{#- fractional days from a timestamp to the cutoff, to the microsecond (pandas' Timedelta / 1 day) -#}
{%- set microseconds_per_day = 86400000000.0 -%}

{%- set order_columns = [
    'orders_kept_all', 'orders_kept_with_amount_all', 'amount_kept_all_cny', 'discount_depth_kept_all',
    'coupon_orders_kept_all', 'orders_kept_30d', 'orders_kept_90d', 'orders_kept_365d',
    'orders_kept_with_amount_365d', 'amount_kept_365d_cny', 'discount_depth_kept_365d',
    'coupon_orders_kept_365d', 'orders_all_365d', 'orders_refunded_365d',
] -%}
{%- set interaction_columns = [
    'inbound_all', 'miniprogram_inbound_all', 'ugc_all', 'coupon_claim_events_all', 'inbound_7d', 'inbound_30d',
    'inbound_90d', 'inbound_active_days_30d', 'page_view_events_30d', 'add_to_cart_events_30d', 'share_events_90d',
    'review_events_90d', 'task_complete_events_90d', 'coupon_claim_events_90d', 'wecom_1v1_inbound_90d', 'outbound_90d',
    'wecom_group_outbound_90d', 'outbound_28d',
] -%}

with

users as (select * from {{ ref('dim_users') }}),
orders as (select * from {{ ref('fct_orders') }}),
interactions as (select * from {{ ref('fct_interactions') }}),
loaded_bounds as (select * from {{ ref('int_data_bounds') }}),

digits as (
    {{ measurement_integers(9, 'digit') }}
),

-- the exclusive end of the loaded activity (int_data_bounds, the rule of warehouse/bounds.py data_end)
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
month_starts as (

    select
        cast({{ dbt.dateadd('month', 'month_offsets.month_offset', 'data_bounds.first_seen_month') }} as date)
            as snapshot_date,
        data_bounds.data_end_date
    from data_bounds
    cross join month_offsets
    where month_offsets.month_offset >= 1

),

snapshot_dates as (

    select snapshot_date from month_starts
    where snapshot_date <= data_end_date
    union
    select data_end_date from data_bounds
    union
    select least({{ run_window_end() }}, data_end_date) from data_bounds

),

snapshots as (

    select
        snapshot_dates.snapshot_date,
        cast(snapshot_dates.snapshot_date as timestamp) as cutoff_at,
        {{ measurement_add_days('snapshot_dates.snapshot_date', churn_horizon_days) }}
            as churn_window_end_date,
        {{ measurement_add_days('snapshot_dates.snapshot_date', churn_horizon_days) }}
        <= data_bounds.data_end_date as has_complete_churn_window
    from snapshot_dates
    cross join data_bounds
    where snapshot_dates.snapshot_date is not null

),

population as (

    select
        snapshots.snapshot_date,
        snapshots.cutoff_at,
        snapshots.has_complete_churn_window,
        users.person_id,
        users.first_seen_at,
        users.registered_at
    from snapshots
    inner join users
        on users.first_seen_at < snapshots.cutoff_at

),

order_facts as (

    select
        person_id,
        ordered_at,
        cast(ordered_at as date) as activity_date,
        not coalesce(is_refunded, false) as is_kept,
        coalesce(is_refunded, false) as is_refunded,
        coalesce(coupon_used, false) as is_coupon_used,
        -- exact cents (the sums are exact; pandas' float sums agree to about 1e-13)
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

interaction_days as (

    select
        person_id,
        cast(occurred_at as date) as activity_date,
        count(*) filter (where direction = 'inbound') as inbound,
        count(*) filter (where direction = 'inbound' and channel = 'miniprogram') as miniprogram_inbound,
        count(*) filter (
            where direction = 'inbound' and channel = 'miniprogram' and scenario = 'page_view'
        ) as page_view_events,
        count(*) filter (
            where direction = 'inbound' and channel = 'miniprogram' and scenario = 'add_to_cart'
        ) as add_to_cart_events,
        count(*) filter (
            where direction = 'inbound' and channel = 'miniprogram' and scenario = 'share'
        ) as share_events,
        count(*) filter (
            where direction = 'inbound' and channel = 'miniprogram' and scenario = 'review'
        ) as review_events,
        count(*) filter (
            where direction = 'inbound' and channel = 'miniprogram' and scenario = 'task_complete'
        ) as task_complete_events,
        count(*) filter (
            where direction = 'inbound' and channel = 'miniprogram' and scenario = 'coupon_claim'
        ) as coupon_claim_events,
        count(*) filter (where direction = 'inbound' and channel = 'wecom_1v1') as wecom_1v1_inbound,
        count(*) filter (where direction = 'outbound') as outbound,
        count(*) filter (where direction = 'outbound' and channel = 'wecom_group') as wecom_group_outbound,
        max(occurred_at) filter (where direction = 'inbound') as last_inbound_at
    from interactions
    where person_id is not null and occurred_at is not null
    group by person_id, cast(occurred_at as date)

),

-- per snapshot, the orders strictly before it: all history and the trailing windows. From the
-- order rows (few beside the interactions), so amounts add up in exact cents
order_measures as (

    select
        snapshots.snapshot_date,
        order_facts.person_id,
        max(order_facts.ordered_at) filter (where order_facts.is_kept) as last_kept_ordered_at,
        max(order_facts.ordered_at) as last_ordered_at,
        count(*) filter (where order_facts.is_kept) as orders_kept_all,
        count(order_facts.amount_cny) filter (where order_facts.is_kept) as orders_kept_with_amount_all,
        sum(order_facts.amount_cny) filter (where order_facts.is_kept) as amount_kept_all_cny,
        sum(order_facts.discount_depth) filter (where order_facts.is_kept) as discount_depth_kept_all,
        count(*) filter (
            where order_facts.is_kept and order_facts.is_coupon_used
        ) as coupon_orders_kept_all,
        {%- for days in [30, 90, 365] %}
            count(*) filter (
                where order_facts.is_kept
                and order_facts.activity_date >= {{ measurement_add_days('snapshots.snapshot_date', -days) }}
            ) as orders_kept_{{ days }}d,
        {%- endfor %}
        count(order_facts.amount_cny) filter (
            where order_facts.is_kept and order_facts.activity_date >= {{ measurement_add_days('snapshots.snapshot_date', -365) }}
        ) as orders_kept_with_amount_365d,
        sum(order_facts.amount_cny) filter (
            where order_facts.is_kept and order_facts.activity_date >= {{ measurement_add_days('snapshots.snapshot_date', -365) }}
        ) as amount_kept_365d_cny,
        sum(order_facts.discount_depth) filter (
            where order_facts.is_kept and order_facts.activity_date >= {{ measurement_add_days('snapshots.snapshot_date', -365) }}
        ) as discount_depth_kept_365d,
        count(*) filter (
            where order_facts.is_kept and order_facts.is_coupon_used and order_facts.activity_date >= {{ measurement_add_days('snapshots.snapshot_date', -365) }}
        ) as coupon_orders_kept_365d,
        count(*) filter (where order_facts.activity_date >= {{ measurement_add_days('snapshots.snapshot_date', -365) }}) as orders_all_365d,
        count(*) filter (
            where order_facts.is_refunded and order_facts.activity_date >= {{ measurement_add_days('snapshots.snapshot_date', -365) }}
        ) as orders_refunded_365d
    from snapshots
    inner join order_facts
        on order_facts.activity_date < snapshots.snapshot_date
    group by snapshots.snapshot_date, order_facts.person_id

),

-- per snapshot, the interactions strictly before it: all history and the trailing windows
interaction_measures as (

    select
        snapshots.snapshot_date,
        interaction_days.person_id,
        max(interaction_days.last_inbound_at) as last_inbound_at,
        sum(interaction_days.inbound) as inbound_all,
        sum(interaction_days.miniprogram_inbound) as miniprogram_inbound_all,
        sum(interaction_days.share_events + interaction_days.review_events + interaction_days.task_complete_events)
            as ugc_all,
        sum(interaction_days.coupon_claim_events) as coupon_claim_events_all,
        {%- for days in [7, 30, 90] %}
            sum(interaction_days.inbound) filter (
                where interaction_days.activity_date >= {{ measurement_add_days('snapshots.snapshot_date', -days) }}
            ) as inbound_{{ days }}d,
        {%- endfor %}
        count(*) filter (
            where interaction_days.inbound > 0
            and interaction_days.activity_date >= {{ measurement_add_days('snapshots.snapshot_date', -30) }}
        ) as inbound_active_days_30d,
        {%- for measure in ['page_view_events', 'add_to_cart_events'] %}
            sum(interaction_days.{{ measure }}) filter (
                where interaction_days.activity_date >= {{ measurement_add_days('snapshots.snapshot_date', -30) }}
            ) as {{ measure }}_30d,
        {%- endfor %}
        {%- for measure in ['share_events', 'review_events', 'task_complete_events', 'coupon_claim_events', 'wecom_1v1_inbound', 'outbound', 'wecom_group_outbound'] %}
            sum(interaction_days.{{ measure }}) filter (
                where interaction_days.activity_date >= {{ measurement_add_days('snapshots.snapshot_date', -90) }}
            ) as {{ measure }}_90d,
        {%- endfor %}
        sum(interaction_days.outbound) filter (
            where interaction_days.activity_date >= {{ measurement_add_days('snapshots.snapshot_date', -28) }}
        ) as outbound_28d
    from snapshots
    inner join interaction_days
        on interaction_days.activity_date < snapshots.snapshot_date
    group by snapshots.snapshot_date, interaction_days.person_id

),

-- persons active (any order, refunded or not, or an inbound interaction) in the churn window
-- [snapshot_date, snapshot_date + horizon)
window_activity as (

    select
        snapshots.snapshot_date,
        order_facts.person_id
    from snapshots
    inner join order_facts
        on
            order_facts.activity_date >= snapshots.snapshot_date
            and order_facts.activity_date < snapshots.churn_window_end_date
    union
    select
        snapshots.snapshot_date,
        interaction_days.person_id
    from snapshots
    inner join interaction_days
        on
            interaction_days.activity_date >= snapshots.snapshot_date
            and interaction_days.activity_date < snapshots.churn_window_end_date
            and interaction_days.inbound > 0

),

joined as (

    select
        population.snapshot_date,
        population.person_id,
        population.has_complete_churn_window,
        window_activity.person_id is not null as is_active_in_churn_window,
        ({{ dbt.datediff('population.first_seen_at', 'population.cutoff_at', 'microsecond') }} / {{ microseconds_per_day }}) as tenure_days,
        case when population.registered_at < population.cutoff_at then 1.0 else 0.0 end
            as is_registered,
        coalesce(
            ({{ dbt.datediff('order_measures.last_kept_ordered_at', 'population.cutoff_at', 'microsecond') }} / {{ microseconds_per_day }}),
            {{ no_event_days }}
        ) as recency_days,
        coalesce(
            ({{ dbt.datediff('interaction_measures.last_inbound_at', 'population.cutoff_at', 'microsecond') }} / {{ microseconds_per_day }}),
            {{ no_event_days }}
        ) as days_since_last_inbound,
        coalesce(
            ({{ dbt.datediff('order_measures.last_ordered_at', 'population.cutoff_at', 'microsecond') }} / {{ microseconds_per_day }}),
            {{ no_event_days }}
        ) as days_since_last_order,
        ({{ dbt.datediff('greatest(order_measures.last_ordered_at, interaction_measures.last_inbound_at)', 'population.cutoff_at', 'microsecond') }} / {{ microseconds_per_day }}) as days_since_last_activity,
        {%- for column in order_columns %}
            order_measures.{{ column }},
        {%- endfor %}
        {%- for column in interaction_columns %}
            interaction_measures.{{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from population
    left join order_measures
        on
            order_measures.snapshot_date = population.snapshot_date
            and order_measures.person_id = population.person_id
    left join interaction_measures
        on
            interaction_measures.snapshot_date = population.snapshot_date
            and interaction_measures.person_id = population.person_id
    left join window_activity
        on
            window_activity.snapshot_date = population.snapshot_date
            and window_activity.person_id = population.person_id

),

with_span as (

    select
        *,
        -- clipped at 0: a fact before first_seen_at is no negative span; no activity is 0
        coalesce(greatest(tenure_days - days_since_last_activity, 0.0), 0.0) as active_span_days
    from joined

),

final as (

    select
        -- ids
        snapshot_date,
        person_id,

        -- features (ml.features.FEATURE_NAMES, in order)
        cast(tenure_days as double) as tenure_days,
        cast(is_registered as double) as is_registered,
        cast(recency_days as double) as recency_days,
        cast(coalesce(orders_kept_365d, 0) as double) as frequency_365d,
        cast(coalesce(orders_kept_90d, 0) as double) as orders_90d,
        cast(coalesce(orders_kept_30d, 0) as double) as orders_30d,
        cast(coalesce(amount_kept_365d_cny, 0.0) as double) as monetary_total_365d_cny,
        coalesce(cast(amount_kept_365d_cny as double) / nullif(orders_kept_with_amount_365d, 0), 0.0)
            as monetary_mean_cny,
        coalesce(cast(discount_depth_kept_365d as double) / nullif(orders_kept_365d, 0), 0.0)
            as discount_depth_mean,
        coalesce(cast(coupon_orders_kept_365d as double) / nullif(orders_kept_365d, 0), 0.0)
            as coupon_order_share,
        coalesce(cast(orders_refunded_365d as double) / nullif(orders_all_365d, 0), 0.0)
            as refund_share_365d,
        cast(days_since_last_inbound as double) as days_since_last_inbound,
        cast(least(days_since_last_order, days_since_last_inbound) as double) as days_since_last_active,
        cast(coalesce(inbound_7d, 0) as double) as inbound_7d,
        cast(coalesce(inbound_30d, 0) as double) as inbound_30d,
        cast(coalesce(inbound_90d, 0) as double) as inbound_90d,
        cast(coalesce(inbound_active_days_30d, 0) as double) as inbound_active_days_30d,
        cast(coalesce(page_view_events_30d, 0) as double) as page_views_30d,
        cast(coalesce(add_to_cart_events_30d, 0) as double) as add_to_cart_30d,
        cast(coalesce(share_events_90d, 0) as double) as shares_90d,
        cast(coalesce(review_events_90d, 0) as double) as reviews_90d,
        cast(coalesce(task_complete_events_90d, 0) as double) as task_completes_90d,
        cast(coalesce(share_events_90d, 0) + coalesce(review_events_90d, 0) + coalesce(task_complete_events_90d, 0) as double)
            as ugc_90d,
        cast(coalesce(coupon_claim_events_90d, 0) as double) as coupon_claims_90d,
        cast(coalesce(outbound_28d, 0) as double) / 4.0 as outbound_touches_per_week_28d,
        coalesce(cast(wecom_group_outbound_90d as double) / nullif(outbound_90d, 0), 0.0)
            as wecom_group_touch_share_90d,
        cast(coalesce(wecom_1v1_inbound_90d, 0) as double) as wecom_1v1_inbound_90d,
        cast(active_span_days as double) as active_span_days,
        cast(coalesce(orders_kept_all, 0) as double) * 100.0 / (active_span_days + 7.0)
            as orders_per_100_active_days,
        cast(coalesce(inbound_all, 0) as double) * 10.0 / (active_span_days + 7.0)
            as inbound_per_10_active_days,
        cast(coalesce(amount_kept_all_cny, 0.0) as double) / (active_span_days + 7.0)
            as spend_per_active_day_cny,
        coalesce(cast(amount_kept_all_cny as double) / nullif(orders_kept_with_amount_all, 0), 0.0)
            as order_amount_mean_all_cny,
        coalesce(cast(coupon_orders_kept_all as double) / nullif(orders_kept_all, 0), 0.0)
            as coupon_order_share_all,
        coalesce(cast(discount_depth_kept_all as double) / nullif(orders_kept_all, 0), 0.0)
            as discount_depth_mean_all,
        coalesce(cast(ugc_all as double) / nullif(miniprogram_inbound_all, 0), 0.0) as ugc_share_all,
        coalesce(cast(coupon_claim_events_all as double) / nullif(miniprogram_inbound_all, 0), 0.0)
            as coupon_claim_share_all,

        -- churn label (ml.churn.churn_labels): 1 = no order and no inbound interaction in
        -- [snapshot_date, snapshot_date + 30 days); null while that window is not complete
        has_complete_churn_window,
        case
            when not has_complete_churn_window then null
            when is_active_in_churn_window then 0
            else 1
        end as churned
    from with_span

)

select * from final

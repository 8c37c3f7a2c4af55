-- sqlfluff:indentation:template_blocks_indent:false
-- (the Jinja loops below emit SQL at the indent of the clause they extend, not one level deeper)
-- One row per snapshot (int_models__feature_snapshots) x person first seen before it: the
-- point-in-time features of ml/features.build_features and the churn label of
-- ml/churn.churn_labels, in SQL, so the model assets read one row per person and snapshot instead
-- of every fact.
-- Cutoff: snapshot_date 00:00 local time; features see only facts strictly before it. A trailing
-- window of N days is `age <= N days`, i.e. facts from (snapshot_date - N) 00:00 on: on dates,
-- activity_date >= snapshot_date - N. A day is never split by a window, so the facts are summed
-- per person and day once (int_models__person_days), each day is paired with every snapshot it
-- counts for through a small day x snapshot table that carries the window flags (an equality
-- join: no range join over the facts), and summed per snapshot with conditional aggregates, one
-- snapshot's aggregate at a time (measured at 200,000 persons under a 2 GB DuckDB limit: 28 s,
-- against 67-94 s for one aggregate over all snapshots and 121 s for the range join before).
-- Training snapshots keep a deterministic sample of persons (var
-- churn_training_persons_per_snapshot; every person at the demo's and M's sizes); scoring
-- snapshots keep every person.
-- Incremental: a daily run recomputes the scoring snapshots only. The training snapshots are
-- recomputed, all of them, on the run whose data reach a new month start (the monthly trainings'
-- cutoff) and on the run that completes its churn window (the day the churn training can use it),
-- so a training sees every late fact and identity change loaded until then. Rows of a snapshot no longer wanted (yesterday's data end) and of
-- persons no longer in dim_users (merged away, erased) are deleted after each run. On Spark the
-- model is a table rebuilt whole (macros/cross_db/materialization.sql): nothing to delete.
{{
    config(
        materialized=incremental_or_table(),
        incremental_strategy='delete+insert',
        unique_key='snapshot_date',
        on_schema_change='fail',
        post_hook=[
            "{% if target.type != 'spark' %}delete from {{ this }} where snapshot_date not in (select snapshot_date from {{ ref('int_models__feature_snapshots') }}){% endif %}",
            "{% if target.type != 'spark' %}delete from {{ this }} where person_id not in (select person_id from {{ ref('dim_users') }}){% endif %}",
        ],
    )
}}

{#- ml.features.NO_EVENT_DAYS: "days since" when the person never did the thing -#}
{%- set no_event_days = 730.0 -%}

{#- fractional days from a timestamp to the cutoff, to the microsecond (pandas' Timedelta / 1 day) -#}
{%- set microseconds_per_day = 86400000000.0 -%}

{#- the trailing windows (days) and the per-day measures summed over them -#}
{%- set window_measures = {
    7: ['inbound'],
    28: ['outbound'],
    30: ['orders_kept', 'inbound', 'page_view_events', 'add_to_cart_events'],
    90: [
        'orders_kept', 'inbound', 'share_events', 'review_events', 'task_complete_events',
        'coupon_claim_events', 'wecom_1v1_inbound', 'outbound', 'wecom_group_outbound',
    ],
    365: [
        'orders_kept', 'orders_kept_with_amount', 'amount_kept_cny', 'discount_depth_kept',
        'coupon_orders_kept', 'orders_all', 'orders_refunded',
    ],
} -%}
{%- set history_measures = [
    'orders_kept', 'orders_kept_with_amount', 'amount_kept_cny', 'discount_depth_kept', 'coupon_orders_kept',
    'inbound', 'miniprogram_inbound', 'coupon_claim_events',
] -%}

{#- the snapshots this run computes (see build_snapshots), known before the query runs: the
    measures are aggregated one snapshot at a time -#}
{%- set build_snapshot_dates = [] -%}
{#- (no snapshots table yet: a compile or docs build without a warehouse) -#}
{%- set snapshots_relation = load_relation(ref('int_models__feature_snapshots')) if execute else none -%}
{%- if snapshots_relation is not none -%}
{%- set due_filter = ' where is_scoring or (' ~ training_snapshots_are_due() ~ ')' if is_incremental() else '' -%}
{%- set query = 'select cast(snapshot_date as ' ~ dbt.type_string() ~ ') from ' ~ snapshots_relation ~ due_filter ~ ' order by 1' -%}
{%- set build_snapshot_dates = run_query(query).columns[0].values() | list -%}
{%- endif -%}
{#- no snapshot (no person yet, or a parse): one empty aggregate keeps the query's shape -#}
{%- if build_snapshot_dates | length == 0 -%}
{%- set build_snapshot_dates = ['1900-01-01'] -%}
{%- endif %}

with

users as (select * from {{ ref('dim_users') }}),
person_days as (select * from {{ ref('int_models__person_days') }}),
snapshots as (select * from {{ ref('int_models__feature_snapshots') }}),
calendar as (select * from {{ ref('int_measurement__calendar') }}),

-- the snapshots this run computes: all on a first build; then the scoring snapshots, and every
-- training snapshot on the run that adds one or completes one's churn window
build_snapshots as (

    select * from snapshots
    {%- if is_incremental() %}
    where is_scoring or ({{ training_snapshots_are_due() }})
    {%- endif %}

),

training_sample as (

    select
        {{ training_sample_threshold(var('churn_training_persons_per_snapshot'), 'count(*)') }}
            as bucket_threshold
    from users

),

population as (

    select
        build_snapshots.snapshot_date,
        build_snapshots.cutoff_at,
        build_snapshots.has_complete_churn_window,
        users.person_id,
        users.first_seen_at,
        users.registered_at
    from build_snapshots
    inner join users
        on users.first_seen_at < build_snapshots.cutoff_at
    where
        build_snapshots.is_scoring
        or {{ training_sample_bucket('users.person_id') }} < (select bucket_threshold from training_sample)

),

-- every loaded day a snapshot reads, with the windows it falls in: the history before the cutoff,
-- the trailing windows, and the churn window [snapshot_date, snapshot_date + 30 days)
snapshot_days as (

    select
        build_snapshots.snapshot_date,
        build_snapshots.is_scoring,
        calendar.date_day as activity_date,
        calendar.date_day < build_snapshots.snapshot_date as is_before,
        {%- for days in window_measures %}
        calendar.date_day < build_snapshots.snapshot_date
        and calendar.date_day >= {{ measurement_add_days('build_snapshots.snapshot_date', -days) }} as is_in_{{ days }}d,
        {%- endfor %}
        calendar.date_day >= build_snapshots.snapshot_date as is_in_churn_window
    from build_snapshots
    inner join calendar
        on calendar.date_day < build_snapshots.churn_window_end_date

),

-- per snapshot (one aggregate each, added up with union all: a hash aggregate over every snapshot
-- at once holds snapshots x persons groups and spills under the memory limit; one per snapshot
-- holds one snapshot's persons), the facts' days before it and in its churn window
measures as (
    {%- for snapshot_date in build_snapshot_dates %}
    {{ 'union all' if not loop.first }}
    select
        snapshot_days.snapshot_date,
        person_days.person_id,
        max(case when snapshot_days.is_before then person_days.last_kept_ordered_at end) as last_kept_ordered_at,
        max(case when snapshot_days.is_before then person_days.last_ordered_at end) as last_ordered_at,
        max(case when snapshot_days.is_before then person_days.last_inbound_at end) as last_inbound_at,
        {%- for measure in history_measures %}
        sum(case when snapshot_days.is_before then person_days.{{ measure }} end) as {{ measure }}_all,
        {%- endfor %}
        sum(
            case
                when snapshot_days.is_before
                    then person_days.share_events + person_days.review_events + person_days.task_complete_events
            end
        ) as ugc_all,
        {%- for days, measures in window_measures.items() %}
        {%- for measure in measures %}
        sum(case when snapshot_days.is_in_{{ days }}d then person_days.{{ measure }} end) as {{ measure }}_{{ days }}d,
        {%- endfor %}
        {%- endfor %}
        count(case when snapshot_days.is_in_30d and person_days.inbound > 0 then 1 end) as inbound_active_days_30d,
        -- any order (refunded or not) or inbound interaction in the churn window
        coalesce(
            bool_or(
                case
                    when snapshot_days.is_in_churn_window
                        then person_days.orders_all > 0 or person_days.inbound > 0
                end
            ),
            false
        ) as is_active_in_churn_window
    from person_days
    inner join snapshot_days
        on snapshot_days.activity_date = person_days.activity_date
    where
        snapshot_days.snapshot_date = cast('{{ snapshot_date }}' as date)
        and (
            snapshot_days.is_scoring
            or {{ training_sample_bucket('person_days.person_id') }}
            < (select training_sample.bucket_threshold from training_sample)
        )
    group by snapshot_days.snapshot_date, person_days.person_id
    {%- endfor %}

),

joined as (

    select
        population.snapshot_date,
        population.person_id,
        population.has_complete_churn_window,
        coalesce(measures.is_active_in_churn_window, false) as is_active_in_churn_window,
        ({{ dbt.datediff('population.first_seen_at', 'population.cutoff_at', 'microsecond') }} / {{ microseconds_per_day }}) as tenure_days,
        case when population.registered_at < population.cutoff_at then 1.0 else 0.0 end
            as is_registered,
        coalesce(
            ({{ dbt.datediff('measures.last_kept_ordered_at', 'population.cutoff_at', 'microsecond') }} / {{ microseconds_per_day }}),
            {{ no_event_days }}
        ) as recency_days,
        coalesce(
            ({{ dbt.datediff('measures.last_inbound_at', 'population.cutoff_at', 'microsecond') }} / {{ microseconds_per_day }}),
            {{ no_event_days }}
        ) as days_since_last_inbound,
        coalesce(
            ({{ dbt.datediff('measures.last_ordered_at', 'population.cutoff_at', 'microsecond') }} / {{ microseconds_per_day }}),
            {{ no_event_days }}
        ) as days_since_last_order,
        ({{ dbt.datediff('greatest(measures.last_ordered_at, measures.last_inbound_at)', 'population.cutoff_at', 'microsecond') }} / {{ microseconds_per_day }}) as days_since_last_activity,
        {%- for measure in history_measures %}
        measures.{{ measure }}_all,
        {%- endfor %}
        measures.ugc_all,
        {%- for days, measures in window_measures.items() %}
        {%- for measure in measures %}
        measures.{{ measure }}_{{ days }}d,
        {%- endfor %}
        {%- endfor %}
        measures.inbound_active_days_30d
    from population
    left join measures
        on
            measures.snapshot_date = population.snapshot_date
            and measures.person_id = population.person_id

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
        cast(coalesce(amount_kept_cny_365d, 0.0) as double) as monetary_total_365d_cny,
        coalesce(cast(amount_kept_cny_365d as double) / nullif(orders_kept_with_amount_365d, 0), 0.0)
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
        cast(coalesce(amount_kept_cny_all, 0.0) as double) / (active_span_days + 7.0)
            as spend_per_active_day_cny,
        coalesce(cast(amount_kept_cny_all as double) / nullif(orders_kept_with_amount_all, 0), 0.0)
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

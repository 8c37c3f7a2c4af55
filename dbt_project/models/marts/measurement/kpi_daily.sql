-- One row per business day x KPI: the plan's cockpit (3.4) with its targets (kpi_targets seed),
-- red/amber/green status (boundaries inclusive, with a 1e-9 tolerance for float noise), the mean
-- of the previous 28 days and the +-15% anomaly flag (the rules: macros/measurement/kpi_rules.sql,
-- shared with engagement_by_layer). The seed's per-layer targets (layer_type set) are
-- engagement_by_layer's, not KPIs of this table.
-- A KPI whose measurement source has no row at all in the loaded data (a brand without an
-- interaction source has no inbound interaction) cannot be measured: status not_measured, value
-- null, on every day, never red. A measurable KPI with no value on a day (too little history, an
-- empty denominator that day) has no row that day.
with

engagement_daily as (select * from {{ ref('engagement_daily') }}),
orders as (select * from {{ ref('fct_orders') }}),
interactions as (select * from {{ ref('fct_interactions') }}),
user_rfm as (select * from {{ ref('user_rfm') }}),
users as (select * from {{ ref('dim_users') }}),
activity_days as (select * from {{ ref('int_measurement__activity_days') }}),
buyers as (select * from {{ ref('int_measurement__buyers') }}),
data_bounds as (select * from {{ ref('int_data_bounds') }}),
kpi_targets as (select * from {{ ref('kpi_targets') }}),

days as (

    select date
    from engagement_daily

),

-- D1 / D7 retention pooled over 7 cohort days: for day n, cohorts first seen on D-n-6 .. D-n
cohort_members as (

    select
        users.person_id,
        users.first_seen_date
    from users
    cross join data_bounds
    where users.first_seen_date >= data_bounds.first_activity_date

),

day_n_values as (

    select
        1 as day_n,
        'next_day_retention' as kpi
    union all
    select
        7 as day_n,
        'd7_retention' as kpi

),

-- per cohort day and n: the cohort and its members active on day n (one pass over the persons);
-- each date then pools the 7 cohort days it covers, O(days x 7) instead of days x persons x 7
cohort_day_retention as (

    select
        cohort_members.first_seen_date,
        day_n_values.day_n,
        day_n_values.kpi,
        count(*) as cohort_users,
        count(activity_days.person_id) as retained_users
    from cohort_members
    cross join day_n_values
    left join activity_days
        on
            activity_days.person_id = cohort_members.person_id
            and activity_days.activity_date
            = {{ measurement_add_days('cohort_members.first_seen_date', 'day_n_values.day_n') }}
    group by cohort_members.first_seen_date, day_n_values.day_n, day_n_values.kpi

),

cohort_retention as (

    select
        days.date,
        cohort_day_retention.kpi,
        sum(cohort_day_retention.cohort_users) as cohort_users,
        sum(cohort_day_retention.retained_users) as retained_users
    from days
    inner join cohort_day_retention
        on
            cohort_day_retention.first_seen_date
            <= {{ measurement_add_days('days.date', '-cohort_day_retention.day_n') }}
            and cohort_day_retention.first_seen_date
            > {{ measurement_add_days('days.date', '-cohort_day_retention.day_n - 7') }}
    group by days.date, cohort_day_retention.kpi

),

-- first-time buyers whose first purchase was 30..59 days before the date (window closed), counted
-- per first purchase day once, then pooled over the 30 days each date covers
first_purchase_days as (

    select
        first_purchase_date,
        count(*) as first_time_buyers,
        sum(
            case
                when {{ is_repurchased_in_window('first_purchase_date', 'second_purchase_date') }}
                    then 1
                else 0
            end
        ) as repurchasers
    from buyers
    group by first_purchase_date

),

repurchase as (

    select
        days.date,
        sum(first_purchase_days.first_time_buyers) as first_time_buyers,
        sum(first_purchase_days.repurchasers) as repurchasers
    from days
    inner join first_purchase_days
        on
            {{ is_repurchase_window_closed('first_purchase_days.first_purchase_date', 'days.date') }}
            and first_purchase_days.first_purchase_date
            > {{ measurement_add_days('days.date', -(var('repurchase_window_days') + 30)) }}
    group by days.date

),

-- churn: persons active in D-59..D-30 (base) with no activity in D-29..D (churned). Both counts
-- are step functions of D, kept as +1 / -1 events per person and activity day (O(activity)):
-- an activity day a puts the person in the base on the days [a + 30, a + 60) (overlapping
-- ranges of one person merged: gaps and islands), and a person whose latest activity by D is a
-- has churned on the days [a + 30, min(a + 60, next activity day)).
activity_neighbours as (

    select
        person_id,
        activity_date,
        lag(activity_date) over (partition by person_id order by activity_date) as previous_date,
        lead(activity_date) over (partition by person_id order by activity_date) as next_date
    from activity_days

),

churn_events as (

    select
        {{ measurement_add_days('activity_date', 30) }} as event_date,
        1 as base_users_delta,
        0 as churned_users_delta
    from activity_neighbours
    where previous_date is null or previous_date < {{ measurement_add_days('activity_date', -30) }}
    union all
    select
        {{ measurement_add_days('activity_date', 60) }} as event_date,
        -1 as base_users_delta,
        0 as churned_users_delta
    from activity_neighbours
    where next_date is null or next_date > {{ measurement_add_days('activity_date', 30) }}
    union all
    select
        {{ measurement_add_days('activity_date', 30) }} as event_date,
        0 as base_users_delta,
        1 as churned_users_delta
    from activity_neighbours
    where next_date is null or next_date > {{ measurement_add_days('activity_date', 30) }}
    union all
    select
        case
            when next_date < {{ measurement_add_days('activity_date', 60) }} then next_date
            else {{ measurement_add_days('activity_date', 60) }}
        end as event_date,
        0 as base_users_delta,
        -1 as churned_users_delta
    from activity_neighbours
    where next_date is null or next_date > {{ measurement_add_days('activity_date', 30) }}
    union all
    -- every date, so each finds its counts by equality
    select
        date as event_date,
        0 as base_users_delta,
        0 as churned_users_delta
    from days

),

churn_changes as (

    select
        event_date,
        sum(base_users_delta) as base_users_delta,
        sum(churned_users_delta) as churned_users_delta
    from churn_events
    group by event_date

),

churn_levels as (

    select
        event_date,
        sum(base_users_delta) over (
            order by event_date rows between unbounded preceding and current row
        ) as base_users,
        sum(churned_users_delta) over (
            order by event_date rows between unbounded preceding and current row
        ) as churned_users
    from churn_changes

),

-- a date without a base (no one active in D-59..D-30) has a null churn rate
churn as (

    select
        days.date,
        churn_levels.base_users,
        churn_levels.churned_users
    from days
    inner join churn_levels
        on churn_levels.event_date = days.date
    cross join data_bounds
    where {{ measurement_add_days('days.date', -59) }} >= data_bounds.first_activity_date

),

high_value as (

    select
        as_of_date as date,
        1.0 * sum(case when rfm_tier = 'high_value' then 1 else 0 end) / count(*) as high_value_share
    from user_rfm
    group by as_of_date

),

kpi_values as (

    select
        date,
        'interaction_rate' as kpi,
        interaction_rate as value
    from engagement_daily
    union all
    select
        date,
        'community_share' as kpi,
        community_share as value
    from engagement_daily
    union all
    select
        date,
        'over_touch_3d_share' as kpi,
        over_touch_3d_share as value
    from engagement_daily
    union all
    select
        date,
        'over_touch_7d_share' as kpi,
        over_touch_7d_share as value
    from engagement_daily
    union all
    select
        date,
        'sla_2h_breach_rate' as kpi,
        sla_2h_breach_rate as value
    from engagement_daily
    union all
    select
        date,
        'touches_per_user_week' as kpi,
        touches_per_user_week as value
    from engagement_daily
    union all
    select
        date,
        kpi,
        1.0 * retained_users / cohort_users as value
    from cohort_retention
    union all
    select
        date,
        'repurchase_rate_30d' as kpi,
        1.0 * repurchasers / first_time_buyers as value
    from repurchase
    union all
    select
        date,
        'churn_rate' as kpi,
        1.0 * churned_users / nullif(base_users, 0) as value
    from churn
    union all
    select
        date,
        'high_value_share' as kpi,
        high_value_share as value
    from high_value

),

-- measurability -----------------------------------------------------------------------------

-- what each KPI is measured from (a KPI of the seed missing here fails the not_null test)
kpi_sources as (

    select
        'interaction_rate' as kpi,
        'inbound_interactions' as measured_from
    union all
    select
        'community_share' as kpi,
        'outbound_touches' as measured_from
    union all
    select
        'touches_per_user_week' as kpi,
        'outbound_touches' as measured_from
    union all
    select
        'over_touch_3d_share' as kpi,
        'outbound_touches' as measured_from
    union all
    select
        'over_touch_7d_share' as kpi,
        'outbound_touches' as measured_from
    union all
    select
        'sla_2h_breach_rate' as kpi,
        'inbound_chats' as measured_from
    union all
    select
        'next_day_retention' as kpi,
        'activity' as measured_from
    union all
    select
        'd7_retention' as kpi,
        'activity' as measured_from
    union all
    select
        'churn_rate' as kpi,
        'activity' as measured_from
    union all
    select
        'repurchase_rate_30d' as kpi,
        'orders' as measured_from
    union all
    select
        'high_value_share' as kpi,
        'orders' as measured_from

),

-- rows of each measurement source in the loaded data; the inbound chats are the 1:1 messages that
-- need a staff reply (engagement_daily's SLA), activity is an order or an inbound interaction
source_rows as (

    select
        'orders' as measured_from,
        count(*) as source_rows
    from orders
    union all
    select
        'inbound_interactions' as measured_from,
        count(*) as source_rows
    from interactions
    where direction = 'inbound'
    union all
    select
        'outbound_touches' as measured_from,
        count(*) as source_rows
    from interactions
    where direction = 'outbound'
    union all
    select
        'inbound_chats' as measured_from,
        count(*) as source_rows
    from interactions
    where channel = 'wecom_1v1' and direction = 'inbound' and scenario = 'chat'
    union all
    select
        'activity' as measured_from,
        count(*) as source_rows
    from activity_days

),

kpis as (

    select
        kpi_targets.*,
        kpi_sources.measured_from,
        coalesce(source_rows.source_rows > 0, true) as is_measurable
    from kpi_targets
    left join kpi_sources on kpi_sources.kpi = kpi_targets.kpi
    left join source_rows on source_rows.measured_from = kpi_sources.measured_from
    -- the targets of a user layer (layer_type set) are engagement_by_layer's
    where kpi_targets.layer_type is null

),

-- every day x KPI; a KPI that cannot be measured has no value, whatever its formula gives
grid as (

    select
        days.date,
        kpis.kpi,
        kpis.is_measurable,
        case when kpis.is_measurable then kpi_values.value end as value
    from days
    cross join kpis
    left join kpi_values
        on kpi_values.date = days.date and kpi_values.kpi = kpis.kpi

),

trailing_levels as (

    {{ kpi_trailing_levels('grid', ['kpi']) }}

),

final as (

    select
        -- keys
        grid.date,
        grid.kpi,

        -- value and target
        grid.value,
        kpis.target,
        kpis.direction,
        case
            when not grid.is_measurable then 'not_measured'
            when grid.value is null then null
            when {{ kpi_meets_target('grid.value', 'kpis.target', 'kpis.direction') }} then 'green'
            when
                kpis.direction = 'higher_is_better'
                and grid.value >= kpis.target - kpis.amber_band - 1e-9
                then 'amber'
            when
                kpis.direction = 'lower_is_better'
                and grid.value <= kpis.target + kpis.amber_band + 1e-9
                then 'amber'
            else 'red'
        end as status,

        -- movement
        trailing_levels.trailing_28d,
        {{ kpi_change_pct('grid.value', 'trailing_levels.trailing_28d') }} as change_pct,
        {{ kpi_is_anomaly('grid.value', 'trailing_levels.trailing_28d', 'kpis.anomaly_threshold') }}
            as is_anomaly,

        -- labels
        kpis.measured_from,
        kpis.unit,
        kpis.description_zh
    from grid
    inner join kpis
        on kpis.kpi = grid.kpi
    left join trailing_levels
        on trailing_levels.date = grid.date and trailing_levels.kpi = grid.kpi
    -- a measurable KPI without a value yet on a date (too little history) has no row that day
    where grid.value is not null or not grid.is_measurable

)

select * from final

-- One row per business day x KPI: the plan's cockpit (3.4) with its targets (kpi_targets seed),
-- red/amber/green status (boundaries inclusive, with a 1e-9 tolerance for float noise), the mean
-- of the previous 28 days and the +-15% anomaly flag.
with

engagement_daily as (select * from {{ ref('engagement_daily') }}),
user_rfm as (select * from {{ ref('user_rfm') }}),
users as (select * from {{ ref('dim_users') }}),
activity_days as (select * from {{ ref('int_measurement__activity_days') }}),
buyers as (select * from {{ ref('int_measurement__buyers') }}),
calendar as (select * from {{ ref('int_measurement__calendar') }}),
kpi_targets as (select * from {{ ref('kpi_targets') }}),

days as (

    select date
    from engagement_daily

),

data_bounds as (

    select min(date_day) as data_start_date
    from calendar

),

-- D1 / D7 retention pooled over 7 cohort days: for day n, cohorts first seen on D-n-6 .. D-n
cohort_members as (

    select
        users.person_id,
        users.first_seen_date
    from users
    cross join data_bounds
    where users.first_seen_date >= data_bounds.data_start_date

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

cohort_retention as (

    select
        days.date,
        day_n_values.kpi,
        count(*) as cohort_users,
        count(activity_days.person_id) as retained_users
    from days
    cross join day_n_values
    inner join cohort_members
        on
            cohort_members.first_seen_date <= {{ measurement_add_days('days.date', '-day_n_values.day_n') }}
            and cohort_members.first_seen_date > {{ measurement_add_days('days.date', '-day_n_values.day_n - 7') }}
    left join activity_days
        on
            activity_days.person_id = cohort_members.person_id
            and activity_days.activity_date
            = {{ measurement_add_days('cohort_members.first_seen_date', 'day_n_values.day_n') }}
    group by days.date, day_n_values.kpi

),

-- first-time buyers whose first purchase was 30..59 days before the date (window closed)
repurchase as (

    select
        days.date,
        count(*) as first_time_buyers,
        sum(
            case
                when buyers.second_purchase_date <= {{ measurement_add_days('buyers.first_purchase_date', 30) }}
                    then 1
                else 0
            end
        ) as repurchasers
    from days
    inner join buyers
        on
            buyers.first_purchase_date <= {{ measurement_add_days('days.date', -30) }}
            and buyers.first_purchase_date > {{ measurement_add_days('days.date', -60) }}
    group by days.date

),

-- churn: persons active in D-59..D-30 with no activity in D-29..D
active_windows as (

    select
        days.date,
        activity_days.person_id,
        max(
            case
                when activity_days.activity_date <= {{ measurement_add_days('days.date', -30) }}
                    then 1
                else 0
            end
        ) as was_active_before,
        max(
            case
                when activity_days.activity_date > {{ measurement_add_days('days.date', -30) }}
                    then 1
                else 0
            end
        ) as is_active_recently
    from days
    inner join activity_days
        on
            activity_days.activity_date <= days.date
            and activity_days.activity_date > {{ measurement_add_days('days.date', -60) }}
    group by days.date, activity_days.person_id

),

churn as (

    select
        active_windows.date,
        sum(active_windows.was_active_before) as base_users,
        sum(case when active_windows.was_active_before = 1 and active_windows.is_active_recently = 0 then 1 else 0 end)
            as churned_users
    from active_windows
    cross join data_bounds
    where {{ measurement_add_days('active_windows.date', -59) }} >= data_bounds.data_start_date
    group by active_windows.date

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
        'community_share',
        community_share
    from engagement_daily
    union all
    select
        date,
        'over_touch_3d_share',
        over_touch_3d_share
    from engagement_daily
    union all
    select
        date,
        'over_touch_7d_share',
        over_touch_7d_share
    from engagement_daily
    union all
    select
        date,
        'sla_2h_breach_rate',
        sla_2h_breach_rate
    from engagement_daily
    union all
    select
        date,
        'touches_per_user_week',
        touches_per_user_week
    from engagement_daily
    union all
    select
        date,
        kpi,
        1.0 * retained_users / cohort_users
    from cohort_retention
    union all
    select
        date,
        'repurchase_rate_30d',
        1.0 * repurchasers / first_time_buyers
    from repurchase
    union all
    select
        date,
        'churn_rate',
        1.0 * churned_users / nullif(base_users, 0)
    from churn
    union all
    select
        date,
        'high_value_share',
        high_value_share
    from high_value

),

-- every day x KPI, so a KPI with no value on a day shows as null rather than missing
grid as (

    select
        days.date,
        kpi_targets.kpi,
        kpi_values.value
    from days
    cross join kpi_targets
    left join kpi_values
        on kpi_values.date = days.date and kpi_values.kpi = kpi_targets.kpi

),

trailing_levels as (

    select
        grid.date,
        grid.kpi,
        avg(previous.value) as trailing_28d
    from grid
    inner join grid as previous
        on
            previous.kpi = grid.kpi
            and previous.date < grid.date
            and previous.date >= {{ measurement_add_days('grid.date', -28) }}
    group by grid.date, grid.kpi

),

final as (

    select
        -- keys
        grid.date,
        grid.kpi,

        -- value and target
        grid.value,
        kpi_targets.target,
        kpi_targets.direction,
        case
            when grid.value is null then null
            when kpi_targets.direction = 'higher_is_better' and grid.value >= kpi_targets.target - 1e-9 then 'green'
            when kpi_targets.direction = 'lower_is_better' and grid.value <= kpi_targets.target + 1e-9 then 'green'
            when
                kpi_targets.direction = 'higher_is_better'
                and grid.value >= kpi_targets.target - kpi_targets.amber_band - 1e-9
                then 'amber'
            when
                kpi_targets.direction = 'lower_is_better'
                and grid.value <= kpi_targets.target + kpi_targets.amber_band + 1e-9
                then 'amber'
            else 'red'
        end as status,

        -- movement
        trailing_levels.trailing_28d,
        (grid.value - trailing_levels.trailing_28d) / nullif(trailing_levels.trailing_28d, 0) as change_pct,
        coalesce(
            abs((grid.value - trailing_levels.trailing_28d) / nullif(trailing_levels.trailing_28d, 0))
            > kpi_targets.anomaly_threshold,
            false
        ) as is_anomaly,

        -- labels
        kpi_targets.unit,
        kpi_targets.description_zh
    from grid
    inner join kpi_targets
        on kpi_targets.kpi = grid.kpi
    left join trailing_levels
        on trailing_levels.date = grid.date and trailing_levels.kpi = grid.kpi
    -- a KPI that cannot be measured yet on a date (too little history) has no row that day
    where grid.value is not null

)

select * from final

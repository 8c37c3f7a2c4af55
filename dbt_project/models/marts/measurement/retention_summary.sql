-- One row per cohort week (Monday) x first channel: D1, D7 and D30 retention pooled over the week's
-- cohort days that are old enough for day n, and the 30-day repurchase rate of the week's
-- first-time buyers whose 30-day window has closed.
with

retention_cohorts as (select * from {{ ref('retention_cohorts') }}),
users as (select * from {{ ref('dim_users') }}),
buyers as (select * from {{ ref('int_measurement__buyers') }}),
data_bounds as (select * from {{ ref('int_data_bounds') }}),

cohort_members as (

    select
        users.person_id,
        cast({{ dbt.date_trunc('week', 'users.first_seen_date') }} as date) as cohort_week,
        users.first_channel as cohort_channel
    from users
    cross join data_bounds
    where users.first_seen_date >= data_bounds.first_activity_date

),

cohort_sizes as (

    select
        cohort_week,
        cohort_channel,
        count(*) as cohort_users
    from cohort_members
    group by cohort_week, cohort_channel

),

retention_by_week as (

    select
        cast({{ dbt.date_trunc('week', 'cohort_date') }} as date) as cohort_week,
        cohort_channel,
        sum(case when day_n = 1 then cohort_size end) as d1_cohort_users,
        sum(case when day_n = 1 then retained_users end) as d1_retained_users,
        sum(case when day_n = 7 then cohort_size end) as d7_cohort_users,
        sum(case when day_n = 7 then retained_users end) as d7_retained_users,
        sum(case when day_n = 30 then cohort_size end) as d30_cohort_users,
        sum(case when day_n = 30 then retained_users end) as d30_retained_users
    from retention_cohorts
    group by cohort_week, cohort_channel

),

repurchase_by_week as (

    select
        cohort_members.cohort_week,
        cohort_members.cohort_channel,
        count(*) as first_time_buyers_30d,
        sum(
            case
                when {{ is_repurchased_in_window('buyers.first_purchase_date', 'buyers.second_purchase_date') }}
                    then 1
                else 0
            end
        ) as repurchasers_30d
    from cohort_members
    inner join buyers
        on buyers.person_id = cohort_members.person_id
    cross join data_bounds
    where {{ is_repurchase_window_closed('buyers.first_purchase_date', 'data_bounds.last_activity_date') }}
    group by cohort_members.cohort_week, cohort_members.cohort_channel

),

final as (

    select
        -- keys
        cohort_sizes.cohort_week,
        cohort_sizes.cohort_channel,

        -- cohort
        cohort_sizes.cohort_users,

        -- retention
        cast(retention_by_week.d1_cohort_users as {{ dbt.type_bigint() }}) as d1_cohort_users,
        cast(retention_by_week.d1_retained_users as {{ dbt.type_bigint() }}) as d1_retained_users,
        1.0 * retention_by_week.d1_retained_users / retention_by_week.d1_cohort_users as d1,
        cast(retention_by_week.d7_cohort_users as {{ dbt.type_bigint() }}) as d7_cohort_users,
        cast(retention_by_week.d7_retained_users as {{ dbt.type_bigint() }}) as d7_retained_users,
        1.0 * retention_by_week.d7_retained_users / retention_by_week.d7_cohort_users as d7,
        cast(retention_by_week.d30_cohort_users as {{ dbt.type_bigint() }}) as d30_cohort_users,
        cast(retention_by_week.d30_retained_users as {{ dbt.type_bigint() }}) as d30_retained_users,
        1.0 * retention_by_week.d30_retained_users / retention_by_week.d30_cohort_users as d30,

        -- repurchase
        coalesce(repurchase_by_week.first_time_buyers_30d, 0) as first_time_buyers_30d,
        cast(coalesce(repurchase_by_week.repurchasers_30d, 0) as {{ dbt.type_bigint() }}) as repurchasers_30d,
        1.0 * repurchase_by_week.repurchasers_30d
        / nullif(repurchase_by_week.first_time_buyers_30d, 0) as repurchase_rate_30d
    from cohort_sizes
    left join retention_by_week
        on
            retention_by_week.cohort_week = cohort_sizes.cohort_week
            and retention_by_week.cohort_channel = cohort_sizes.cohort_channel
    left join repurchase_by_week
        on
            repurchase_by_week.cohort_week = cohort_sizes.cohort_week
            and repurchase_by_week.cohort_channel = cohort_sizes.cohort_channel

)

select * from final

-- One row per interaction-frequency bucket x scenario: D30 retention and 30-day repurchase of the
-- persons, by how often the brand touched them in their first 4 weeks (plan 1.2.2, the missing
-- metric). Persons enter when they are old enough for day 30. For scenario `all` the bucket
-- counts every touch; for a scenario s it counts the touches of scenario s only, so bucket 0 of
-- s holds everyone who never got s in their first 4 weeks.
with

users as (select * from {{ ref('dim_users') }}),
interactions as (select * from {{ ref('fct_interactions') }}),
activity_days as (select * from {{ ref('int_measurement__activity_days') }}),
buyers as (select * from {{ ref('int_measurement__buyers') }}),
data_bounds as (select * from {{ ref('int_data_bounds') }}),

eligible_users as (

    select
        users.person_id,
        users.first_seen_date
    from users
    cross join data_bounds
    where
        users.first_seen_date >= data_bounds.first_activity_date
        and {{ measurement_add_days('users.first_seen_date', 30) }} <= data_bounds.last_activity_date

),

-- touches in the exposure window: days 0..27 after first seen (4 whole weeks)
early_touches as (

    select
        eligible_users.person_id,
        interactions.scenario
    from eligible_users
    inner join interactions
        on interactions.person_id = eligible_users.person_id
    where
        interactions.direction = 'outbound'
        and interactions.occurred_date >= eligible_users.first_seen_date
        and interactions.occurred_date < {{ measurement_add_days('eligible_users.first_seen_date', 28) }}

),

scenarios as (

    select 'all' as scenario
    union
    select distinct scenario
    from interactions
    where direction = 'outbound' and scenario is not null

),

touch_counts as (

    select
        person_id,
        'all' as scenario,
        count(*) as touches_28d
    from early_touches
    group by person_id

    union all

    select
        person_id,
        scenario,
        count(*) as touches_28d
    from early_touches
    where scenario is not null
    group by person_id, scenario

),

outcomes as (

    select
        eligible_users.person_id,
        max(
            case
                when activity_days.activity_date = {{ measurement_add_days('eligible_users.first_seen_date', 30) }}
                    then 1
                else 0
            end
        ) as is_d30_retained
    from eligible_users
    left join activity_days
        on activity_days.person_id = eligible_users.person_id
    group by eligible_users.person_id

),

person_scenarios as (

    select
        eligible_users.person_id,
        scenarios.scenario,
        coalesce(touch_counts.touches_28d, 0) as touches_28d
    from eligible_users
    cross join scenarios
    left join touch_counts
        on
            touch_counts.person_id = eligible_users.person_id
            and touch_counts.scenario = scenarios.scenario

),

-- touches per week = touches_28d / 4; bucket n = at most n touches a week on average, 4+ above 3
bucketed as (

    select
        person_scenarios.person_id,
        person_scenarios.scenario,
        person_scenarios.touches_28d,
        case
            when person_scenarios.touches_28d = 0 then '0'
            when person_scenarios.touches_28d <= 4 then '1'
            when person_scenarios.touches_28d <= 8 then '2'
            when person_scenarios.touches_28d <= 12 then '3'
            else '4+'
        end as interaction_frequency_bucket,
        outcomes.is_d30_retained,
        case
            when
                buyers.person_id is not null
                and {{ is_repurchase_window_closed('buyers.first_purchase_date', 'data_bounds.last_activity_date') }}
                then 1
            else 0
        end as is_first_time_buyer_30d,
        case
            when
                {{ is_repurchased_in_window('buyers.first_purchase_date', 'buyers.second_purchase_date') }}
                and {{ is_repurchase_window_closed('buyers.first_purchase_date', 'data_bounds.last_activity_date') }}
                then 1
            else 0
        end as is_repurchaser_30d
    from person_scenarios
    inner join outcomes
        on outcomes.person_id = person_scenarios.person_id
    left join buyers
        on buyers.person_id = person_scenarios.person_id
    cross join data_bounds

),

final as (

    select
        -- keys
        interaction_frequency_bucket,
        scenario,

        -- measures
        count(*) as users,
        1.0 * sum(touches_28d) / count(*) / 4 as avg_touches_per_week,
        cast(sum(is_d30_retained) as {{ dbt.type_bigint() }}) as d30_retained_users,
        1.0 * sum(is_d30_retained) / count(*) as d30_retention,
        cast(sum(is_first_time_buyer_30d) as {{ dbt.type_bigint() }}) as first_time_buyers_30d,
        cast(sum(is_repurchaser_30d) as {{ dbt.type_bigint() }}) as repurchasers_30d,
        1.0 * sum(is_repurchaser_30d) / nullif(sum(is_first_time_buyer_30d), 0) as repurchase_rate
    from bucketed
    group by interaction_frequency_bucket, scenario

)

select * from final

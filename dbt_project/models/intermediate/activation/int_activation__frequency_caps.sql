-- One row per person on the planned day: the 7-day touch cap the next best actions respect and
-- why (the adaptive frequency cap, seed 2.4.2 and 7.2). The cap is var nba_max_touches_7d unless
-- a rule of the seed frequency_cap_rules is in force: its alarm KPI was above its kpi_targets limit
-- (kpi_daily status amber or red, the limit the over_touch_3d_alarm / over_touch_7d_alarm checks
-- read) on one of the rule's hold_days days before the planned day. A rule in force caps everyone
-- (applies_to all) or the persons the alarm counted on such a day (over_touched: touched on each
-- of the alarm's 3 / 7 consecutive days ending on it); the lowest cap wins (ties: the smaller
-- cap_rule_id), and a rule never raises the default.
with

plan_days as (select * from {{ ref('int_activation__plan_days') }}),
users as (select * from {{ ref('dim_users') }}),
kpi_daily as (select * from {{ ref('kpi_daily') }}),
rules as (select * from {{ ref('frequency_cap_rules') }}),

-- the days an over-touch KPI counts consecutively (engagement_daily's over_touch_3d_share and
-- over_touch_7d_share: persons touched on each of the 3 / 7 days ending on the day)
alarm_streaks as (

    select
        'over_touch_3d_share' as alarm_kpi,
        3 as streak_days
    union all
    select
        'over_touch_7d_share' as alarm_kpi,
        7 as streak_days

),

-- each rule's alarm days in its hold window before the planned day
alarm_days as (

    select
        rules.cap_rule_id,
        kpi_daily.date as alarm_date,
        kpi_daily.value as alarm_value,
        kpi_daily.target as alarm_target
    from rules
    cross join plan_days
    inner join kpi_daily
        on
            kpi_daily.kpi = rules.alarm_kpi
            and kpi_daily.date < plan_days.action_date
            and kpi_daily.date >= {{ measurement_add_days('plan_days.action_date', '-rules.hold_days') }}
    where kpi_daily.status in ('amber', 'red')

),

ranked_alarm_days as (

    select
        *,
        row_number() over (partition by cap_rule_id order by alarm_date desc) as recency_rank
    from alarm_days

),

-- the rules in force, with their latest alarm day (its figures go into the reason)
rules_in_force as (

    select
        rules.cap_rule_id,
        rules.alarm_kpi,
        rules.applies_to,
        rules.touch_cap_7d,
        latest.alarm_date,
        latest.alarm_value,
        latest.alarm_target
    from rules
    inner join ranked_alarm_days as latest
        on latest.cap_rule_id = rules.cap_rule_id and latest.recency_rank = 1

),

-- outbound touch days in the longest window an over_touched rule in force looks at
touch_days as (

    select distinct
        interactions.person_id,
        interactions.occurred_date
    from {{ ref('fct_interactions') }} as interactions
    cross join plan_days
    where
        interactions.direction = 'outbound'
        and interactions.person_id is not null
        and interactions.occurred_date < plan_days.action_date
        and interactions.occurred_date >= (
            select {{ measurement_add_days('min(alarm_days.alarm_date)', '-7') }}
            from alarm_days
        )

),

-- the persons an over_touched rule's alarm counted on one of its alarm days: touched on each of
-- the streak_days days ending on it (the latest such day per person)
streaks_on_alarm_days as (

    select
        alarm_days.cap_rule_id,
        alarm_days.alarm_date,
        touch_days.person_id
    from alarm_days
    inner join rules on rules.cap_rule_id = alarm_days.cap_rule_id
    inner join alarm_streaks on alarm_streaks.alarm_kpi = rules.alarm_kpi
    inner join touch_days
        on
            touch_days.occurred_date <= alarm_days.alarm_date
            and touch_days.occurred_date
            > {{ measurement_add_days('alarm_days.alarm_date', '-alarm_streaks.streak_days') }}
    where rules.applies_to = 'over_touched'
    group by alarm_days.cap_rule_id, alarm_days.alarm_date, touch_days.person_id, alarm_streaks.streak_days
    having count(*) = alarm_streaks.streak_days

),

over_touched as (

    select
        cap_rule_id,
        person_id,
        max(alarm_date) as over_touched_date
    from streaks_on_alarm_days
    group by cap_rule_id, person_id

),

person_rules as (

    select
        users.person_id,
        rules_in_force.*,
        cast(null as date) as over_touched_date
    from users
    cross join rules_in_force
    where rules_in_force.applies_to = 'all'

    union all

    select
        over_touched.person_id,
        rules_in_force.*,
        over_touched.over_touched_date
    from over_touched
    inner join rules_in_force on rules_in_force.cap_rule_id = over_touched.cap_rule_id

),

-- each person's lowest cap below the default
lowest_caps as (

    select *
    from (
        select
            *,
            row_number() over (partition by person_id order by touch_cap_7d, cap_rule_id) as cap_rank
        from person_rules
        where touch_cap_7d < {{ var('nba_max_touches_7d') }}
    ) as ranked
    where cap_rank = 1

),

final as (

    select
        -- ids
        users.person_id,
        plan_days.action_date,

        -- the cap
        cast(coalesce(lowest_caps.touch_cap_7d, {{ var('nba_max_touches_7d') }}) as integer) as touch_cap_7d,
        lowest_caps.cap_rule_id,
        case
            when lowest_caps.cap_rule_id is null
                then 'touch cap {{ var("nba_max_touches_7d") }} per 7 days (the default: no cap rule in force)'
            else
                'touch cap ' || cast(lowest_caps.touch_cap_7d as {{ dbt.type_string() }}) || ' per 7 days by rule '
                || lowest_caps.cap_rule_id || ': ' || lowest_caps.alarm_kpi || ' '
                || cast(round(100 * lowest_caps.alarm_value, 1) as {{ dbt.type_string() }}) || '% on '
                || cast(lowest_caps.alarm_date as {{ dbt.type_string() }}) || ', above its '
                || cast(round(100 * lowest_caps.alarm_target, 1) as {{ dbt.type_string() }}) || '% limit'
                || coalesce(
                    '; touched on each of the ' || cast(alarm_streaks.streak_days as {{ dbt.type_string() }})
                    || ' days to ' || cast(lowest_caps.over_touched_date as {{ dbt.type_string() }}),
                    ''
                )
        end as cap_reason,

        -- the alarm behind it
        lowest_caps.alarm_kpi,
        lowest_caps.alarm_date,
        lowest_caps.over_touched_date
    from users
    cross join plan_days
    left join lowest_caps on lowest_caps.person_id = users.person_id
    left join alarm_streaks
        on
            alarm_streaks.alarm_kpi = lowest_caps.alarm_kpi
            and lowest_caps.over_touched_date is not null

)

select * from final

-- One row per person x content type of the seed send_windows on the planned day: the hours a next
-- best action of that content goes out (seed 5.3). The default is the content kind's window
-- (product knowledge 10-11 h, promotions 20-21 h); it is replaced by the person's own when learned
-- from when they read or reply: over the lookback_days days before the planned day, the person's
-- active hours (distinct day and hour of an inbound interaction: a mini-program event, a WeCom
-- message) per hour of the day; the learned_window_hours-hour band with the most of them (the
-- earliest on a tie) is learned when the person has at least min_observations active hours and
-- the band holds at least min_band_share of them. Hours are local (Asia/Shanghai); a window is
-- [start_hour, end_hour).
with

plan_days as (select * from {{ ref('int_activation__plan_days') }}),
users as (select * from {{ ref('dim_users') }}),
send_windows as (select * from {{ ref('send_windows') }}),

hours_of_day as (

    {{ measurement_integers(23, 'hour_of_day') }}

),

-- the learning rules of the seed (content types sharing a rule are learned once)
learning_rules as (

    select distinct
        lookback_days,
        learned_window_hours
    from send_windows
    where min_observations is not null

),

-- the longest lookback a rule looks at (null without a learning rule: nothing is read)
longest_lookback as (

    select max(lookback_days) as lookback_days
    from learning_rules

),

person_active_hours as (

    select distinct
        interactions.person_id,
        interactions.occurred_date,
        cast(extract(hour from interactions.occurred_at) as integer) as hour_of_day
    from {{ ref('fct_interactions') }} as interactions
    cross join plan_days
    cross join longest_lookback
    where
        interactions.direction = 'inbound'
        and interactions.person_id is not null
        and interactions.occurred_date < plan_days.action_date
        and interactions.occurred_date
        >= {{ measurement_add_days('plan_days.action_date', '-longest_lookback.lookback_days') }}

),

-- per person, rule and hour of the day: the active hours in the rule's lookback
hour_counts as (

    select
        person_active_hours.person_id,
        learning_rules.lookback_days,
        learning_rules.learned_window_hours,
        person_active_hours.hour_of_day,
        count(*) as active_hours
    from person_active_hours
    cross join plan_days
    inner join learning_rules
        on
            person_active_hours.occurred_date
            >= {{ measurement_add_days('plan_days.action_date', '-learning_rules.lookback_days') }}
    group by
        person_active_hours.person_id,
        learning_rules.lookback_days,
        learning_rules.learned_window_hours,
        person_active_hours.hour_of_day

),

person_totals as (

    select
        person_id,
        lookback_days,
        learned_window_hours,
        sum(active_hours) as active_hours
    from hour_counts
    group by person_id, lookback_days, learned_window_hours

),

-- every band [start, start + width) that fits in the day, with the person's active hours in it
bands as (

    select
        hour_counts.person_id,
        hour_counts.lookback_days,
        hour_counts.learned_window_hours,
        band_starts.hour_of_day as band_start_hour,
        sum(hour_counts.active_hours) as band_active_hours
    from hour_counts
    inner join hours_of_day as band_starts
        on
            band_starts.hour_of_day + hour_counts.learned_window_hours <= 24
            and hour_counts.hour_of_day >= band_starts.hour_of_day
            and hour_counts.hour_of_day < band_starts.hour_of_day + hour_counts.learned_window_hours
    group by
        hour_counts.person_id,
        hour_counts.lookback_days,
        hour_counts.learned_window_hours,
        band_starts.hour_of_day

),

best_bands as (

    select *
    from (
        select
            *,
            row_number() over (
                partition by person_id, lookback_days, learned_window_hours
                order by band_active_hours desc, band_start_hour asc
            ) as band_rank
        from bands
    ) as ranked
    where band_rank = 1

),

learned as (

    select
        users.person_id,
        send_windows.*,
        coalesce(person_totals.active_hours, 0) as active_hours,
        coalesce(best_bands.band_active_hours, 0) as band_active_hours,
        best_bands.band_start_hour,
        coalesce(
            send_windows.min_observations is not null
            and person_totals.active_hours >= send_windows.min_observations
            and best_bands.band_active_hours
            >= coalesce(send_windows.min_band_share, 0) * person_totals.active_hours - 1e-9,
            false
        ) as is_learned
    from users
    cross join send_windows
    left join person_totals
        on
            person_totals.person_id = users.person_id
            and person_totals.lookback_days = send_windows.lookback_days
            and person_totals.learned_window_hours = send_windows.learned_window_hours
    left join best_bands
        on
            best_bands.person_id = users.person_id
            and best_bands.lookback_days = send_windows.lookback_days
            and best_bands.learned_window_hours = send_windows.learned_window_hours

),

final as (

    select
        -- ids
        learned.person_id,
        plan_days.action_date,
        learned.content_type,

        -- the window
        cast(
            case when learned.is_learned then learned.band_start_hour else learned.default_start_hour end
            as integer
        ) as send_window_start_hour,
        cast(
            case
                when learned.is_learned then learned.band_start_hour + learned.learned_window_hours
                else learned.default_end_hour
            end as integer
        ) as send_window_end_hour,
        case when learned.is_learned then 'learned' else 'default' end as send_window_source,

        -- the figures that decided it
        learned.content_kind,
        cast(learned.active_hours as integer) as active_hours,
        cast(learned.band_active_hours as integer) as band_active_hours,
        learned.band_start_hour as best_band_start_hour
    from learned
    cross join plan_days

)

select * from final

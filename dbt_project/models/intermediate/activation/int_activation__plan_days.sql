-- One row: the day the next best actions are planned for, and the window starts the rules look
-- back from. The plan is for the day after the last loaded activity (the daily run of partition
-- D plans D+1; re-running an older day re-plans that same next day, since a plan for a past day
-- cannot be sent), from facts strictly before that day.
with

data_bounds as (select * from {{ ref('int_data_bounds') }}),

-- the planned day: the exclusive end of the loaded data (the day after the last order or
-- interaction)
planned_day as (

    select data_end_date as action_date
    from data_bounds

),

final as (

    select
        action_date,
        cast({{ dbt.dateadd('day', -1, 'action_date') }} as date) as day_before,
        cast({{ dbt.dateadd('day', -3, 'action_date') }} as date) as day_minus_3,
        cast({{ dbt.dateadd('day', -4, 'action_date') }} as date) as day_minus_4,
        cast({{ dbt.dateadd('day', -6, 'action_date') }} as date) as day_minus_6,
        cast({{ dbt.dateadd('day', -7, 'action_date') }} as date) as day_minus_7,
        cast({{ dbt.dateadd('day', -14, 'action_date') }} as date) as day_minus_14,
        cast({{ dbt.dateadd('day', -30, 'action_date') }} as date) as day_minus_30,
        cast({{ dbt.dateadd('day', -var('nba_dormant_days'), 'action_date') }} as date) as dormant_since,
        cast({{ dbt.dateadd('day', -var('nba_max_consecutive_touch_days'), 'action_date') }} as date)
            as streak_start
    from planned_day

)

select * from final

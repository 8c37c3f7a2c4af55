-- One row per person and action date: the next best action of the interaction response matrix
-- (seed interaction_response_matrix) for the day after the last loaded activity. The rules live
-- in models/intermediate/activation/: the planned day (int_activation__plan_days), each person's
-- histories, triggers and gates (int_activation__person_histories, int_activation__person_states),
-- the winning reachable rule (int_activation__chosen_rules) and the community cap
-- (int_activation__capped_actions). A group touch the cap could not move is not planned.
{{ config(tags=['after_ml']) }}

with

capped_actions as (select * from {{ ref('int_activation__capped_actions') }}),

final as (

    select
        -- ids
        person_id,
        action_date,

        -- the action
        scenario,
        action,
        final_channel as channel,
        content_type,
        rule_id,
        rule_priority,

        -- the figures that decided it
        touches_7d,
        reason
    from capped_actions
    where final_channel is not null

)

select * from final

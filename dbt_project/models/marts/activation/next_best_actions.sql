-- One row per person and action date: the next best action of the interaction response matrix
-- (seed interaction_response_matrix) for the day after the last loaded activity. The rules live
-- in models/intermediate/activation/: the planned day (int_activation__plan_days), each person's
-- histories, triggers and gates (int_activation__person_histories, int_activation__person_states),
-- the winning reachable rule (int_activation__chosen_rules) and the community cap
-- (int_activation__capped_actions). A group touch the cap could not move is not planned. Each
-- action carries the 7-day touch cap it respects and why (int_activation__frequency_caps: lowered
-- by the seed frequency_cap_rules while an over-touch alarm fires) and its send window
-- (int_activation__send_windows: the content kind's default or the person's learned hours).
{{ config(tags=['after_ml']) }}

with

capped_actions as (select * from {{ ref('int_activation__capped_actions') }}),
send_windows as (select * from {{ ref('int_activation__send_windows') }}),

final as (

    select
        -- ids
        capped_actions.person_id,
        capped_actions.action_date,

        -- the action
        capped_actions.scenario,
        capped_actions.action,
        capped_actions.final_channel as channel,
        capped_actions.content_type,
        capped_actions.rule_id,
        capped_actions.rule_priority,

        -- the figures that decided it
        capped_actions.touches_7d,
        capped_actions.reason,

        -- the frequency cap it respects (int_activation__frequency_caps)
        capped_actions.touch_cap_7d,
        capped_actions.cap_rule_id,
        capped_actions.cap_reason,

        -- when to send it (int_activation__send_windows)
        send_windows.send_window_start_hour,
        send_windows.send_window_end_hour,
        send_windows.send_window_source
    from capped_actions
    left join send_windows
        on
            send_windows.person_id = capped_actions.person_id
            and send_windows.content_type = capped_actions.content_type
    where capped_actions.final_channel is not null

)

select * from final

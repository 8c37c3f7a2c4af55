-- One row per person with a chosen rule (int_activation__chosen_rules), after the community cap
-- (seed 2.3.1): the day's group touches stay at or below nba_max_community_share of the day's
-- touches. Rows that surely stay in the plan (non-group rows, and group rows with a non-group
-- fallback) bound the group rows kept; the rest move to their fallback or are dropped
-- (final_channel null). reason: why the rule fired, with the figures that decided it.
with

chosen_rules as (select * from {{ ref('int_activation__chosen_rules') }}),

community as (

    select
        *,
        row_number() over (
            partition by planned_channel = 'wecom_group'
            order by rule_priority, {{ salted_hash('person_id') }}
        ) as group_rank,
        sum(case
            when planned_channel <> 'wecom_group' then 1
            when is_fallback_reachable and fallback_channel <> 'wecom_group' then 1
            else 0
        end) over () as certain_touches
    from chosen_rules

),

capped as (

    select
        *,
        case
            when planned_channel <> 'wecom_group' then planned_channel
            when group_rank <= floor({{ var('nba_max_community_share') }} * certain_touches) then planned_channel
            when is_fallback_reachable and fallback_channel <> 'wecom_group' then fallback_channel
        end as final_channel
    from community

),

final as (

    select
        -- ids
        person_id,
        action_date,

        -- the action
        scenario,
        action,
        final_channel,
        content_type,
        rule_id,
        rule_priority,

        -- the figures that decided it
        touches_7d,
        touch_cap_7d,
        cap_rule_id,
        cap_reason,
        concat_ws(
            '; ',
            case scenario
                when 'birthday' then 'birthday on ' || cast(action_date as {{ dbt.type_string() }})
                when 'member_day' then 'member day (day {{ var("nba_member_day_of_month") }} of the month)'
                when 'welcome_3d' then 'registered 3 days before'
                when 'post_purchase_7d' then 'first purchase 7 days before'
                when 'recall_step_1' then 'dormant: no order or inbound action in {{ var("nba_dormant_days") }} days'
                when 'recall_step_2' then 'no response 3+ days after recall step 1'
                when 'recall_step_3' then 'no response 4+ days after recall step 2'
                when 'new_product_preview' then 'no new-product touch in 30 days'
                when 'ugc_topic' then 'weekly UGC topic day'
            end,
            case
                when min_age is not null or max_age is not null
                    then 'age ' || cast(age_years as {{ dbt.type_string() }})
            end,
            case
                when min_orders_30d is not null or max_orders_30d is not null
                    then cast(orders_30d as {{ dbt.type_string() }}) || ' orders in 30 days'
            end,
            case when rule_rfm_tier is not null then 'RFM tier ' || rfm_tier end,
            case when rule_segment is not null then 'segment ' || segment end,
            case
                when min_churn_decile is not null or max_churn_decile is not null
                    then 'churn risk decile ' || cast(risk_decile as {{ dbt.type_string() }})
            end,
            'touches in the last 7 days: ' || cast(touches_7d as {{ dbt.type_string() }})
            || ' (cap ' || cast(coalesce(touch_cap_7d, {{ var("nba_max_touches_7d") }}) as {{ dbt.type_string() }})
            || coalesce(', rule ' || cap_rule_id, '') || ')',
            case
                when
                    final_channel <> rule_channel and planned_channel = 'wecom_group'
                    and final_channel <> planned_channel
                    then 'moved from wecom_group to ' || final_channel || ' by the community cap'
                when final_channel <> rule_channel
                    then 'not reachable on ' || rule_channel || ', fallback ' || final_channel
            end
        ) as reason
    from capped

)

select * from final

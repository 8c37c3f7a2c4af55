-- One row per eligible person with a matching, reachable rule of the interaction response matrix
-- (seed interaction_response_matrix): the rule with the lowest priority number wins, on its own
-- channel when the person is reachable there, else on its fallback channel. Eligible: contactable
-- and below the frequency caps (int_activation__person_states).
with

person_states as (select * from {{ ref('int_activation__person_states') }}),
matrix as (select * from {{ ref('interaction_response_matrix') }}),

eligible as (

    select *
    from person_states
    where is_contactable and is_below_frequency_caps

),

matched as (

    select
        eligible.*,
        matrix.rule_id,
        matrix.priority as rule_priority,
        matrix.scenario,
        matrix.content_type,
        matrix.action,
        matrix.channel as rule_channel,
        matrix.fallback_channel,
        matrix.min_age,
        matrix.max_age,
        matrix.min_orders_30d,
        matrix.max_orders_30d,
        matrix.min_churn_decile,
        matrix.max_churn_decile,
        matrix.rfm_tier as rule_rfm_tier,
        matrix.segment as rule_segment
    from eligible
    inner join matrix
        on
            (matrix.scenario = 'birthday' and eligible.is_birthday)
            or (matrix.scenario = 'member_day' and eligible.is_member_day)
            or (matrix.scenario = 'welcome_3d' and eligible.is_welcome_3d)
            or (matrix.scenario = 'post_purchase_7d' and eligible.is_post_purchase_7d)
            or (matrix.scenario = 'recall_step_1' and eligible.is_recall_step_1)
            or (matrix.scenario = 'recall_step_2' and eligible.is_recall_step_2)
            or (matrix.scenario = 'recall_step_3' and eligible.is_recall_step_3)
            or (matrix.scenario = 'new_product_preview' and eligible.is_new_product_due)
            or (matrix.scenario = 'ugc_topic' and eligible.is_ugc_topic_day)
    where
        (matrix.min_age is null or eligible.age_years >= matrix.min_age)
        and (matrix.max_age is null or eligible.age_years <= matrix.max_age)
        and (matrix.min_orders_30d is null or eligible.orders_30d >= matrix.min_orders_30d)
        and (matrix.max_orders_30d is null or eligible.orders_30d <= matrix.max_orders_30d)
        and (matrix.rfm_tier is null or eligible.rfm_tier = matrix.rfm_tier)
        and (matrix.segment is null or eligible.segment = matrix.segment)
        and (matrix.min_churn_decile is null or eligible.risk_decile >= matrix.min_churn_decile)
        and (matrix.max_churn_decile is null or eligible.risk_decile <= matrix.max_churn_decile)

),

with_channel as (

    select
        *,
        {{ nba_reachable('rule_channel') }} as is_primary_reachable,
        {{ nba_reachable('fallback_channel') }} as is_fallback_reachable
    from matched

),

ranked as (

    -- one action per person and day: the lowest priority number among reachable rules
    select
        *,
        case when is_primary_reachable then rule_channel else fallback_channel end as planned_channel,
        row_number() over (partition by person_id order by rule_priority, rule_id) as rule_rank
    from with_channel
    where is_primary_reachable or is_fallback_reachable

),

final as (

    select
        -- ids
        person_id,
        action_date,
        rule_id,

        -- the rule
        rule_priority,
        scenario,
        action,
        content_type,
        rule_channel,
        fallback_channel,
        planned_channel,
        is_fallback_reachable,

        -- the rule's filters and the person's figures they were checked against
        min_age,
        max_age,
        age_years,
        min_orders_30d,
        max_orders_30d,
        orders_30d,
        rule_rfm_tier,
        rfm_tier,
        rule_segment,
        segment,
        min_churn_decile,
        max_churn_decile,
        risk_decile,
        touches_7d,

        -- the frequency cap the person is below (int_activation__frequency_caps)
        touch_cap_7d,
        cap_rule_id,
        cap_reason
    from ranked
    where rule_rank = 1

)

select * from final

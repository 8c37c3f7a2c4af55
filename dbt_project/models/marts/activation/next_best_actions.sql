-- One row per person and action date: the next best action of the interaction response matrix
-- (seed interaction_response_matrix). The plan is for the day after the last loaded activity
-- (the daily run of partition D, the latest landed day, plans D+1; re-running an older day
-- re-plans that same next day, since a plan for a past day cannot be sent), from facts strictly
-- before that day. Gates, in order: marketing consent and no unsubscribe; the 7-day frequency
-- cap; no third consecutive touch day; a reachable channel; then the lowest-priority-number rule
-- wins and the day's community touches are capped.
{{ config(tags=['after_ml']) }}

{%- set max_touches_7d = var('nba_max_touches_7d', 3) %}
{%- set max_consecutive_days = var('nba_max_consecutive_touch_days', 2) %}
{%- set max_community_share = var('nba_max_community_share', 0.4) %}
{%- set member_day_of_month = var('nba_member_day_of_month', 18) %}
{%- set ugc_topic_isodow = var('nba_ugc_topic_isodow', 2) %}
{%- set dormant_days = var('nba_dormant_days', 30) %}

with

users as (select * from {{ ref('dim_users') }}),
birthdays as (select * from {{ ref('int_users__birthdays') }}),
orders as (select * from {{ ref('fct_orders') }}),
interactions as (select * from {{ ref('fct_interactions') }}),
rfm as (select * from {{ ref('user_rfm') }}),
segments as (select * from {{ ref('user_segments') }}),
churn_scores as (select * from {{ ref('user_churn_scores') }}),
identity_map as (select * from {{ ref('identity_map') }}),
matrix as (select * from {{ ref('interaction_response_matrix') }}),

-- the planned day: the day after the last loaded order or interaction
planned_day as (

    select
        cast({{ dbt.dateadd('day', 1, 'greatest((select max(ordered_date) from orders), '
                                       '(select max(occurred_date) from interactions))') }} as date)
            as action_date

),

days as (

    select
        action_date,
        cast({{ dbt.dateadd('day', -1, 'action_date') }} as date) as day_before,
        cast({{ dbt.dateadd('day', -3, 'action_date') }} as date) as day_minus_3,
        cast({{ dbt.dateadd('day', -6, 'action_date') }} as date) as day_minus_6,
        cast({{ dbt.dateadd('day', -7, 'action_date') }} as date) as day_minus_7,
        cast({{ dbt.dateadd('day', -14, 'action_date') }} as date) as day_minus_14,
        cast({{ dbt.dateadd('day', -30, 'action_date') }} as date) as day_minus_30,
        cast({{ dbt.dateadd('day', -dormant_days, 'action_date') }} as date) as dormant_since,
        cast({{ dbt.dateadd('day', -max_consecutive_days, 'action_date') }} as date) as streak_start
    from planned_day

),

-- phones that identify one person (junk phones have no person) make a person reachable by SMS
phones as (

    select distinct person_id
    from identity_map
    where id_type = 'phone' and person_id is not null

),

past_orders as (

    select orders.*
    from orders
    cross join days
    where not orders.is_refunded and orders.ordered_date < days.action_date

),

past_interactions as (

    select interactions.*
    from interactions
    cross join days
    where interactions.occurred_date < days.action_date

),

order_stats as (

    select
        past_orders.person_id,
        min(past_orders.ordered_date) as first_order_date,
        max(past_orders.ordered_date) as last_order_date,
        count(case when past_orders.ordered_date >= days.day_minus_30 then 1 end) as orders_30d
    from past_orders
    cross join days
    group by past_orders.person_id

),

touch_stats as (

    -- outbound touches by the brand: the frequency cap and the scenario histories
    select
        past_interactions.person_id,
        count(case when past_interactions.occurred_date >= days.day_minus_7 then 1 end) as touches_7d,
        count(distinct case
            when past_interactions.occurred_date >= days.streak_start
                then past_interactions.occurred_date
        end) as touch_days_in_streak_window,
        count(case
            when
                past_interactions.scenario like 'recall%'
                and past_interactions.occurred_date >= days.day_minus_14 then 1
        end) as recall_touches_14d,
        count(case
            when
                past_interactions.scenario like 'recall%'
                and past_interactions.occurred_date >= days.day_minus_30 then 1
        end) as recall_touches_30d,
        max(case
            when past_interactions.scenario like 'recall%'
                then past_interactions.occurred_date
        end) as last_recall_date,
        count(case
            when
                past_interactions.scenario in ('new_product', 'new_product_preview')
                and past_interactions.occurred_date >= days.day_minus_30 then 1
        end) as new_product_touches_30d,
        count(case
            when
                past_interactions.scenario = 'ugc_topic'
                and past_interactions.occurred_date >= days.day_minus_6 then 1
        end) as ugc_topic_touches_6d
    from past_interactions
    cross join days
    where past_interactions.direction = 'outbound'
    group by past_interactions.person_id

),

activity as (

    -- the person's last own action: an order or an inbound interaction
    select
        person_id,
        max(activity_date) as last_active_date
    from (
        select
            person_id,
            ordered_date as activity_date
        from past_orders
        union all
        select
            person_id,
            occurred_date as activity_date
        from past_interactions
        where direction = 'inbound'
    ) as acts
    group by person_id

),

latest_rfm as (

    select
        rfm.person_id,
        rfm.rfm_tier
    from rfm
    inner join days on rfm.as_of_date = days.day_before

),

persons as (

    select
        -- ids
        users.person_id,
        days.action_date,

        -- attributes
        case
            when birthdays.birth_year is not null then
                extract(year from days.action_date) - birthdays.birth_year
                - case
                    when
                        extract(month from days.action_date) * 100 + extract(day from days.action_date)
                        < birthdays.birth_month * 100 + birthdays.birth_day then 1
                    else 0
                end
        end as age_years,
        coalesce(order_stats.orders_30d, 0) as orders_30d,
        latest_rfm.rfm_tier,
        segments.segment,
        churn_scores.risk_decile,
        coalesce(touch_stats.touches_7d, 0) as touches_7d,
        coalesce(touch_stats.touch_days_in_streak_window, 0) as touch_days_in_streak_window,

        -- reachability
        users.has_wecom,
        users.has_miniprogram,
        phones.person_id is not null as has_phone,

        -- triggers (journey nodes, seed 5.1)
        birthdays.birth_month = extract(month from days.action_date)
        and (
            birthdays.birth_day = extract(day from days.action_date)
            -- a 29 February birthday is celebrated on 28 February in other years
            or (
                birthdays.birth_month = 2 and birthdays.birth_day = 29
                and extract(day from days.action_date) = 28
                and extract(month from {{ dbt.dateadd('day', 1, 'days.action_date') }}) = 3
            )
        ) as is_birthday,
        users.has_crm and extract(day from days.action_date) = {{ member_day_of_month }} as is_member_day,
        cast(coalesce(users.registered_at, users.first_seen_at) as date) = days.day_minus_3 as is_welcome_3d,
        order_stats.first_order_date = days.day_minus_7 as is_post_purchase_7d,
        -- dormant: known for the dormancy window and no order or inbound action in it
        cast(users.first_seen_at as date) <= days.dormant_since
        and coalesce(activity.last_active_date, cast('1900-01-01' as date)) < days.dormant_since
        and coalesce(touch_stats.recall_touches_30d, 0) = 0 as is_recall_step_1,
        -- the chain goes on only while the person has not responded since the last recall touch
        coalesce(touch_stats.recall_touches_14d, 0) = 1
        and touch_stats.last_recall_date <= days.day_minus_3
        and coalesce(activity.last_active_date, cast('1900-01-01' as date)) < touch_stats.last_recall_date
            as is_recall_step_2,
        coalesce(touch_stats.recall_touches_14d, 0) = 2
        and touch_stats.last_recall_date <= cast({{ dbt.dateadd('day', -4, 'days.action_date') }} as date)
        and coalesce(activity.last_active_date, cast('1900-01-01' as date)) < touch_stats.last_recall_date
            as is_recall_step_3,
        coalesce(touch_stats.new_product_touches_30d, 0) = 0 as is_new_product_due,
        extract(isodow from days.action_date) = {{ ugc_topic_isodow }}
        and coalesce(touch_stats.ugc_topic_touches_6d, 0) = 0 as is_ugc_topic_day,

        -- gates
        coalesce(users.consent_marketing, false) and users.unsubscribed_at is null as is_contactable
    from users
    cross join days
    left join birthdays on birthdays.person_id = users.person_id
    left join order_stats on order_stats.person_id = users.person_id
    left join touch_stats on touch_stats.person_id = users.person_id
    left join activity on activity.person_id = users.person_id
    left join latest_rfm on latest_rfm.person_id = users.person_id
    left join segments on segments.person_id = users.person_id
    left join churn_scores on churn_scores.person_id = users.person_id
    left join phones on phones.person_id = users.person_id

),

eligible as (

    select *
    from persons
    where
        is_contactable
        and touches_7d < {{ max_touches_7d }}
        and touch_days_in_streak_window < {{ max_consecutive_days }}

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
        {{ nba_reachable('rule_channel') }} as primary_reachable,
        {{ nba_reachable('fallback_channel') }} as fallback_reachable
    from matched

),

ranked as (

    -- one action per person and day: the lowest priority number among reachable rules
    select
        *,
        case when primary_reachable then rule_channel else fallback_channel end as planned_channel,
        row_number() over (partition by person_id order by rule_priority, rule_id) as rule_rank
    from with_channel
    where primary_reachable or fallback_reachable

),

chosen as (

    select * from ranked
    where rule_rank = 1

),

-- community cap (seed 2.3.1): the day's group touches stay at or below the share of the day's
-- touches. Rows that surely stay in the plan (non-group rows, and group rows with a non-group
-- fallback) bound the group rows kept; the rest move to their fallback or are dropped.
community as (

    select
        chosen.*,
        row_number() over (
            partition by planned_channel = 'wecom_group'
            order by rule_priority, {{ salted_hash('person_id') }}
        ) as group_rank,
        sum(case
            when planned_channel <> 'wecom_group' then 1
            when fallback_reachable and fallback_channel <> 'wecom_group' then 1
            else 0
        end) over () as certain_touches
    from chosen

),

capped as (

    select
        *,
        case
            when planned_channel <> 'wecom_group' then planned_channel
            when group_rank <= floor({{ max_community_share }} * certain_touches) then planned_channel
            when fallback_reachable and fallback_channel <> 'wecom_group' then fallback_channel
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
        final_channel as channel,
        content_type,
        rule_id,
        rule_priority,

        -- the figures that decided it
        touches_7d,
        concat_ws(
            '; ',
            case scenario
                when 'birthday' then 'birthday on ' || cast(action_date as varchar)
                when 'member_day' then 'member day (day {{ member_day_of_month }} of the month)'
                when 'welcome_3d' then 'registered 3 days before'
                when 'post_purchase_7d' then 'first purchase 7 days before'
                when 'recall_step_1' then 'dormant: no order or inbound action in {{ dormant_days }} days'
                when 'recall_step_2' then 'no response 3+ days after recall step 1'
                when 'recall_step_3' then 'no response 4+ days after recall step 2'
                when 'new_product_preview' then 'no new-product touch in 30 days'
                when 'ugc_topic' then 'weekly UGC topic day'
            end,
            case
                when min_age is not null or max_age is not null
                    then 'age ' || cast(age_years as varchar)
            end,
            case
                when min_orders_30d is not null or max_orders_30d is not null
                    then cast(orders_30d as varchar) || ' orders in 30 days'
            end,
            case when rule_rfm_tier is not null then 'RFM tier ' || rfm_tier end,
            case when rule_segment is not null then 'segment ' || segment end,
            case
                when min_churn_decile is not null or max_churn_decile is not null
                    then 'churn risk decile ' || cast(risk_decile as varchar)
            end,
            'touches in the last 7 days: ' || cast(touches_7d as varchar) || ' (cap {{ max_touches_7d }})',
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
    where final_channel is not null

)

select * from final

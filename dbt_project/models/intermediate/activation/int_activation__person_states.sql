-- One row per person on the planned day: the attributes the response matrix filters on, the
-- reachable channels, the triggers (journey nodes, seed 5.1) that fire that day and the gates
-- (contactability, the 7-day frequency cap of int_activation__frequency_caps, no third
-- consecutive touch day).
with

plan_days as (select * from {{ ref('int_activation__plan_days') }}),
users as (select * from {{ ref('dim_users') }}),
birthdays as (select * from {{ ref('int_users__birthdays') }}),
histories as (select * from {{ ref('int_activation__person_histories') }}),
rfm as (select * from {{ ref('user_rfm') }}),
segments as (select * from {{ ref('user_segments') }}),
churn_scores as (select * from {{ ref('user_churn_scores') }}),
identity_map as (select * from {{ ref('identity_map') }}),
frequency_caps as (select * from {{ ref('int_activation__frequency_caps') }}),

-- phones that identify one person (junk phones have no person) make a person reachable by SMS
phones as (

    select distinct person_id
    from identity_map
    where id_type = 'phone' and person_id is not null

),

latest_rfm as (

    select
        rfm.person_id,
        rfm.rfm_tier
    from rfm
    inner join plan_days on rfm.as_of_date = plan_days.day_before

),

final as (

    select
        -- ids
        users.person_id,
        plan_days.action_date,

        -- attributes
        case
            when birthdays.birth_year is not null then
                extract(year from plan_days.action_date) - birthdays.birth_year
                - case
                    when
                        extract(month from plan_days.action_date) * 100 + extract(day from plan_days.action_date)
                        < birthdays.birth_month * 100 + birthdays.birth_day then 1
                    else 0
                end
        end as age_years,
        coalesce(histories.orders_30d, 0) as orders_30d,
        latest_rfm.rfm_tier,
        segments.segment,
        churn_scores.risk_decile,
        coalesce(histories.touches_7d, 0) as touches_7d,
        coalesce(histories.touch_days_in_streak_window, 0) as touch_days_in_streak_window,

        -- reachability
        users.has_wecom,
        users.has_miniprogram,
        phones.person_id is not null as has_phone,

        -- triggers (journey nodes, seed 5.1)
        birthdays.birth_month = extract(month from plan_days.action_date)
        and (
            birthdays.birth_day = extract(day from plan_days.action_date)
            -- a 29 February birthday is celebrated on 28 February in other years
            or (
                birthdays.birth_month = 2 and birthdays.birth_day = 29
                and extract(day from plan_days.action_date) = 28
                and extract(month from {{ dbt.dateadd('day', 1, 'plan_days.action_date') }}) = 3
            )
        ) as is_birthday,
        users.has_crm and extract(day from plan_days.action_date) = {{ var('nba_member_day_of_month') }}
            as is_member_day,
        cast(coalesce(users.registered_at, users.first_seen_at) as date) = plan_days.day_minus_3 as is_welcome_3d,
        histories.first_order_date = plan_days.day_minus_7 as is_post_purchase_7d,
        -- dormant: known for the dormancy window and no order or inbound action in it
        cast(users.first_seen_at as date) <= plan_days.dormant_since
        and coalesce(histories.last_active_date, cast('1900-01-01' as date)) < plan_days.dormant_since
        and coalesce(histories.recall_touches_30d, 0) = 0 as is_recall_step_1,
        -- the chain goes on only while the person has not responded since the last recall touch
        coalesce(histories.recall_touches_14d, 0) = 1
        and histories.last_recall_date <= plan_days.day_minus_3
        and coalesce(histories.last_active_date, cast('1900-01-01' as date)) < histories.last_recall_date
            as is_recall_step_2,
        coalesce(histories.recall_touches_14d, 0) = 2
        and histories.last_recall_date <= plan_days.day_minus_4
        and coalesce(histories.last_active_date, cast('1900-01-01' as date)) < histories.last_recall_date
            as is_recall_step_3,
        coalesce(histories.new_product_touches_30d, 0) = 0 as is_new_product_due,
        {{ iso_day_of_week("plan_days.action_date") }} = {{ var('nba_ugc_topic_isodow') }}
        and coalesce(histories.ugc_topic_touches_6d, 0) = 0 as is_ugc_topic_day,

        -- gates
        users.is_contactable,
        frequency_caps.touch_cap_7d,
        frequency_caps.cap_rule_id,
        frequency_caps.cap_reason,
        coalesce(histories.touches_7d, 0) < frequency_caps.touch_cap_7d
        and coalesce(histories.touch_days_in_streak_window, 0) < {{ var('nba_max_consecutive_touch_days') }}
            as is_below_frequency_caps
    from users
    cross join plan_days
    left join birthdays on birthdays.person_id = users.person_id
    left join histories on histories.person_id = users.person_id
    left join latest_rfm on latest_rfm.person_id = users.person_id
    left join segments on segments.person_id = users.person_id
    left join churn_scores on churn_scores.person_id = users.person_id
    left join phones on phones.person_id = users.person_id
    left join frequency_caps on frequency_caps.person_id = users.person_id

)

select * from final

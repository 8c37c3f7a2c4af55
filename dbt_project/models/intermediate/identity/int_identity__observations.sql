-- Every identifier seen in any extract, with where and when it was first seen.
-- A registration (CRM member, mini-program user, WeCom contact added, customer group joined) and
-- an activity (order, points, feedback, SMS, message, event) often share the earliest timestamp;
-- the activity's label (an order is `crm`) says nothing about where the identifier came from, so
-- at the same instant the registration wins, then CRM, the mini-program, WeCom: the rule of
-- int_users__first_channels, which dim_users publishes.
with

crm_members as (select * from {{ ref('stg_crm__members') }}),
crm_orders as (select * from {{ ref('stg_crm__orders') }}),
crm_points as (select * from {{ ref('stg_crm__points') }}),
crm_feedback as (select * from {{ ref('stg_crm__feedback') }}),
crm_sms_sends as (select * from {{ ref('stg_crm__sms_sends') }}),
wecom_contacts as (select * from {{ ref('stg_wecom__external_contacts') }}),
wecom_group_members as (select * from {{ ref('stg_wecom__group_members') }}),
wecom_messages as (select * from {{ ref('stg_wecom__messages') }}),
wecom_campaign_sends as (select * from {{ ref('stg_wecom__campaign_sends') }}),
mp_users as (select * from {{ ref('stg_miniprogram__users') }}),
mp_events as (select * from {{ ref('stg_miniprogram__events') }}),
mp_orders as (select * from {{ ref('stg_miniprogram__orders') }}),

observed as (

    select
        'crm' as source_system,
        'member_id' as id_type,
        member_id as id_value,
        registered_at as seen_at,
        registration_channel as channel,
        true as is_registration
    from crm_members
    union all
    select
        'crm' as source_system,
        'phone' as id_type,
        phone as id_value,
        registered_at as seen_at,
        registration_channel as channel,
        true as is_registration
    from crm_members
    where phone is not null
    union all
    select
        'crm' as source_system,
        'member_id' as id_type,
        member_id as id_value,
        ordered_at as seen_at,
        'crm' as channel,
        false as is_registration
    from crm_orders
    union all
    select
        'crm' as source_system,
        'member_id' as id_type,
        member_id as id_value,
        changed_at as seen_at,
        'crm' as channel,
        false as is_registration
    from crm_points
    union all
    select
        'crm' as source_system,
        'member_id' as id_type,
        member_id as id_value,
        submitted_at as seen_at,
        'crm' as channel,
        false as is_registration
    from crm_feedback
    union all
    select
        'crm' as source_system,
        'member_id' as id_type,
        member_id as id_value,
        sent_at as seen_at,
        'crm' as channel,
        false as is_registration
    from crm_sms_sends
    union all
    select
        'wecom' as source_system,
        'external_userid' as id_type,
        external_userid as id_value,
        added_at as seen_at,
        'wecom' as channel,
        true as is_registration
    from wecom_contacts
    union all
    select
        'wecom' as source_system,
        'unionid' as id_type,
        unionid as id_value,
        added_at as seen_at,
        'wecom' as channel,
        true as is_registration
    from wecom_contacts
    where unionid is not null
    union all
    select
        'wecom' as source_system,
        'phone' as id_type,
        remark_phone as id_value,
        added_at as seen_at,
        'wecom' as channel,
        true as is_registration
    from wecom_contacts
    where remark_phone is not null
    union all
    select
        'wecom' as source_system,
        'external_userid' as id_type,
        member_userid as id_value,
        joined_at as seen_at,
        'wecom' as channel,
        true as is_registration
    from wecom_group_members
    where is_external
    union all
    select
        'wecom' as source_system,
        'unionid' as id_type,
        unionid as id_value,
        joined_at as seen_at,
        'wecom' as channel,
        true as is_registration
    from wecom_group_members
    where is_external and unionid is not null
    union all
    select
        'wecom' as source_system,
        'external_userid' as id_type,
        from_userid as id_value,
        sent_at as seen_at,
        'wecom' as channel,
        false as is_registration
    from wecom_messages
    where is_inbound
    union all
    select
        'wecom' as source_system,
        'external_userid' as id_type,
        first_recipient_id as id_value,
        sent_at as seen_at,
        'wecom' as channel,
        false as is_registration
    from wecom_messages
    where not is_inbound and room_id is null and (first_recipient_id like 'wm%' or first_recipient_id like 'wo%')
    union all
    select
        'wecom' as source_system,
        'external_userid' as id_type,
        external_userid as id_value,
        sent_at as seen_at,
        'wecom' as channel,
        false as is_registration
    from wecom_campaign_sends
    union all
    select
        'miniprogram' as source_system,
        'openid' as id_type,
        openid as id_value,
        registered_at as seen_at,
        'miniprogram' as channel,
        true as is_registration
    from mp_users
    union all
    select
        'miniprogram' as source_system,
        'unionid' as id_type,
        unionid as id_value,
        registered_at as seen_at,
        'miniprogram' as channel,
        true as is_registration
    from mp_users
    where unionid is not null
    union all
    select
        'miniprogram' as source_system,
        'phone' as id_type,
        phone as id_value,
        registered_at as seen_at,
        'miniprogram' as channel,
        true as is_registration
    from mp_users
    where phone is not null
    union all
    select
        'miniprogram' as source_system,
        'openid' as id_type,
        openid as id_value,
        event_at as seen_at,
        'miniprogram' as channel,
        false as is_registration
    from mp_events
    union all
    select
        'miniprogram' as source_system,
        'openid' as id_type,
        openid as id_value,
        ordered_at as seen_at,
        'miniprogram' as channel,
        false as is_registration
    from mp_orders

),

ranked as (

    select
        *,
        row_number() over (
            partition by id_type, id_value
            order by
                seen_at,
                case when is_registration then 0 else 1 end,
                case source_system when 'crm' then 1 when 'miniprogram' then 2 else 3 end,
                channel
        ) as seen_rank
    from observed
    where id_value is not null and id_value <> ''

),

final as (

    select
        id_type,
        id_value,
        id_type || ':' || id_value as node_id,
        source_system as first_source,
        channel as first_channel,
        seen_at as first_seen_at
    from ranked
    where seen_rank = 1

)

select * from final

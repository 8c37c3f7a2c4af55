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
        'crm' as source,
        'member_id' as id_type,
        member_id as id_value,
        registered_at as seen_at,
        registration_channel as channel,
        true as is_registration
    from crm_members
    union all
    select
        'crm',
        'phone',
        phone,
        registered_at,
        registration_channel,
        true
    from crm_members
    where phone is not null
    union all
    select
        'crm',
        'member_id',
        member_id,
        ordered_at,
        'crm',
        false
    from crm_orders
    union all
    select
        'crm',
        'member_id',
        member_id,
        changed_at,
        'crm',
        false
    from crm_points
    union all
    select
        'crm',
        'member_id',
        member_id,
        submitted_at,
        'crm',
        false
    from crm_feedback
    union all
    select
        'crm',
        'member_id',
        member_id,
        sent_at,
        'crm',
        false
    from crm_sms_sends
    union all
    select
        'wecom',
        'external_userid',
        external_userid,
        added_at,
        'wecom',
        true
    from wecom_contacts
    union all
    select
        'wecom',
        'unionid',
        unionid,
        added_at,
        'wecom',
        true
    from wecom_contacts
    where unionid is not null
    union all
    select
        'wecom',
        'phone',
        remark_phone,
        added_at,
        'wecom',
        true
    from wecom_contacts
    where remark_phone is not null
    union all
    select
        'wecom',
        'external_userid',
        member_userid,
        joined_at,
        'wecom',
        true
    from wecom_group_members
    where is_external
    union all
    select
        'wecom',
        'unionid',
        unionid,
        joined_at,
        'wecom',
        true
    from wecom_group_members
    where is_external and unionid is not null
    union all
    select
        'wecom',
        'external_userid',
        from_userid,
        sent_at,
        'wecom',
        false
    from wecom_messages
    where is_inbound
    union all
    select
        'wecom',
        'external_userid',
        first_recipient_id,
        sent_at,
        'wecom',
        false
    from wecom_messages
    where not is_inbound and room_id is null and (first_recipient_id like 'wm%' or first_recipient_id like 'wo%')
    union all
    select
        'wecom',
        'external_userid',
        external_userid,
        sent_at,
        'wecom',
        false
    from wecom_campaign_sends
    union all
    select
        'miniprogram',
        'openid',
        openid,
        registered_at,
        'miniprogram',
        true
    from mp_users
    union all
    select
        'miniprogram',
        'unionid',
        unionid,
        registered_at,
        'miniprogram',
        true
    from mp_users
    where unionid is not null
    union all
    select
        'miniprogram',
        'phone',
        phone,
        registered_at,
        'miniprogram',
        true
    from mp_users
    where phone is not null
    union all
    select
        'miniprogram',
        'openid',
        openid,
        event_at,
        'miniprogram',
        false
    from mp_events
    union all
    select
        'miniprogram',
        'openid',
        openid,
        ordered_at,
        'miniprogram',
        false
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
                case source when 'crm' then 1 when 'miniprogram' then 2 else 3 end,
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
        source as first_source,
        channel as first_channel,
        seen_at as first_seen_at
    from ranked
    where seen_rank = 1

)

select * from final

-- Account-to-attribute links stated by one record: a member's phone, a contact's unionid, ...
-- Accounts (member_id, openid, external_userid) belong to one person; attributes (phone, unionid)
-- join accounts into persons.
with

crm_members as (select * from {{ ref('stg_crm__members') }}),
wecom_contacts as (select * from {{ ref('stg_wecom__external_contacts') }}),
wecom_group_members as (select * from {{ ref('stg_wecom__group_members') }}),
mp_users as (select * from {{ ref('stg_miniprogram__users') }}),

links as (

    select
        'member_id' as account_type,
        member_id as account_value,
        'phone' as attribute_type,
        phone as attribute_value
    from crm_members
    union all
    select
        'external_userid' as account_type,
        external_userid as account_value,
        'unionid' as attribute_type,
        unionid as attribute_value
    from wecom_contacts
    union all
    select
        'external_userid' as account_type,
        external_userid as account_value,
        'phone' as attribute_type,
        remark_phone as attribute_value
    from wecom_contacts
    union all
    select
        'external_userid' as account_type,
        member_userid as account_value,
        'unionid' as attribute_type,
        unionid as attribute_value
    from wecom_group_members
    where is_external
    union all
    select
        'openid' as account_type,
        openid as account_value,
        'unionid' as attribute_type,
        unionid as attribute_value
    from mp_users
    union all
    select
        'openid' as account_type,
        openid as account_value,
        'phone' as attribute_type,
        phone as attribute_value
    from mp_users

),

final as (

    select distinct
        account_type || ':' || account_value as account_node_id,
        attribute_type,
        attribute_value,
        attribute_type || ':' || attribute_value as attribute_node_id
    from links
    where account_value is not null and attribute_value is not null and attribute_value <> ''

)

select * from final

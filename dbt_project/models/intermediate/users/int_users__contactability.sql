-- One row per person with a CRM member, a mini-program user or a WeCom unsubscribe request:
-- whether the brand may contact the person at all. The one definition of contactability:
-- dim_users publishes it and next_best_actions gates on it (its other gates, caps and
-- reachability, are per channel and day).
with

identity_map as (select * from {{ ref('identity_map') }}),
crm_members as (select * from {{ ref('stg_crm__members') }}),
mp_users as (select * from {{ ref('stg_miniprogram__users') }}),
message_intents as (select * from {{ ref('inbound_message_intents') }}),

-- every account of the person counts, not only the latest CRM record: one withdrawal anywhere
-- withdraws the consent
accounts as (

    select
        identity_map.person_id,
        crm_members.has_marketing_consent,
        crm_members.unsubscribed_at
    from crm_members
    inner join identity_map
        on identity_map.id_type = 'member_id' and identity_map.id_value = crm_members.member_id
    where identity_map.person_id is not null
    union all
    select
        identity_map.person_id,
        mp_users.has_marketing_consent,
        mp_users.unsubscribed_at
    from mp_users
    inner join identity_map
        on identity_map.id_type = 'openid' and identity_map.id_value = mp_users.openid
    where identity_map.person_id is not null
    union all
    -- an unsubscribe request said in a WeCom chat (seed 2.4.1) withdraws consent from its time
    select
        person_id,
        false as has_marketing_consent,
        sent_at as unsubscribed_at
    from message_intents
    where intent = 'unsubscribe_request'

),

consents as (

    select
        person_id,
        max(case when has_marketing_consent then 1 else 0 end) = 1 as has_given_consent,
        min(unsubscribed_at) as unsubscribed_at
    from accounts
    group by person_id

),

final as (

    select
        -- ids
        person_id,

        -- gate: consent given in CRM or the mini-program, and never withdrawn since (erased
        -- persons never reach the build database again: privacy/suppression.py)
        has_given_consent and unsubscribed_at is null as is_contactable,

        -- timestamps
        unsubscribed_at
    from consents

)

select * from final

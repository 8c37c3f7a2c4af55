-- One row per person: the unified user view (统一用户视图) across CRM, WeCom and the mini-program.
with

identity_map as (select * from {{ ref('identity_map') }}),
crm_members as (select * from {{ ref('stg_crm__members') }}),
mp_users as (select * from {{ ref('stg_miniprogram__users') }}),
first_channels as (select * from {{ ref('int_users__first_channels') }}),
contactability as (select * from {{ ref('int_users__contactability') }}),

resolved as (

    select * from identity_map
    where person_id is not null

),

identifiers as (

    select
        person_id,
        min(first_seen_at) as first_seen_at,
        count(*) as n_identifiers,
        max(case when first_source = 'crm' or id_type = 'member_id' then 1 else 0 end) = 1 as has_crm,
        max(case when id_type = 'external_userid' then 1 else 0 end) = 1 as has_wecom,
        max(case when id_type = 'openid' then 1 else 0 end) = 1 as has_miniprogram
    from resolved
    group by person_id

),

members as (

    select
        resolved.person_id,
        crm_members.registered_at,
        crm_members.member_tier,
        crm_members.city,
        crm_members.birth_date,
        row_number() over (
            partition by resolved.person_id order by crm_members.updated_at desc, crm_members.member_id asc
        ) as member_rank
    from crm_members
    inner join resolved
        on resolved.id_type = 'member_id' and resolved.id_value = crm_members.member_id

),

mp as (

    select
        resolved.person_id,
        min(mp_users.registered_at) as registered_at
    from mp_users
    inner join resolved
        on resolved.id_type = 'openid' and resolved.id_value = mp_users.openid
    group by resolved.person_id

),

member_registrations as (

    select
        person_id,
        min(registered_at) as registered_at
    from members
    group by person_id

),

final as (

    select
        -- ids
        identifiers.person_id,

        -- dimensions
        first_channels.first_channel,
        latest_member.member_tier,
        latest_member.city,
        cast(extract(month from latest_member.birth_date) as {{ dbt.type_int() }}) as birth_month,
        identifiers.has_crm,
        identifiers.has_wecom,
        identifiers.has_miniprogram,
        -- consent: given in CRM or the mini-program, and never withdrawn since
        -- (int_users__contactability decides it)
        coalesce(contactability.is_contactable, false) as consent_marketing,

        -- measures
        identifiers.n_identifiers,

        -- timestamps
        identifiers.first_seen_at,
        case
            when member_registrations.registered_at is null then mp.registered_at
            when mp.registered_at is null then member_registrations.registered_at
            when member_registrations.registered_at < mp.registered_at then member_registrations.registered_at
            else mp.registered_at
        end as registered_at,
        contactability.unsubscribed_at,
        cast(identifiers.first_seen_at as date) as first_seen_date,

        -- gates: the brand may contact the person (int_users__contactability)
        coalesce(contactability.is_contactable, false) as is_contactable

    from identifiers
    inner join first_channels on first_channels.person_id = identifiers.person_id
    left join members as latest_member
        on latest_member.person_id = identifiers.person_id and latest_member.member_rank = 1
    left join member_registrations on member_registrations.person_id = identifiers.person_id
    left join mp on mp.person_id = identifiers.person_id
    left join contactability on contactability.person_id = identifiers.person_id

)

select * from final

-- One row per person: the channel of the person's first appearance in any extract.
-- A registration (a CRM member registration with its registration channel, a mini-program
-- registration, a WeCom contact added or a customer group joined) and an activity (an order,
-- points, a message, an event) often share the earliest timestamp: a member registers at the till
-- and pays in the same second. The activity's label (an order is `crm`) says nothing about where
-- the person came from, so at the same instant a registration wins. Two registrations at the same
-- instant: CRM first (it records the channel the member declared), then the mini-program, then
-- WeCom; then the lowest identifier, so the choice is total and every run makes the same one.
with

identity_map as (select * from {{ ref('identity_map') }}),
crm_members as (select * from {{ ref('stg_crm__members') }}),
mp_users as (select * from {{ ref('stg_miniprogram__users') }}),
wecom_contacts as (select * from {{ ref('stg_wecom__external_contacts') }}),
wecom_group_members as (select * from {{ ref('stg_wecom__group_members') }}),

resolved as (

    select * from identity_map
    where person_id is not null

),

registrations as (

    select
        'member_id' as id_type,
        member_id as id_value,
        registered_at as appeared_at,
        registration_channel as channel,
        1 as source_rank
    from crm_members
    union all
    select
        'openid' as id_type,
        openid as id_value,
        registered_at as appeared_at,
        'miniprogram' as channel,
        2 as source_rank
    from mp_users
    union all
    select
        'external_userid' as id_type,
        external_userid as id_value,
        added_at as appeared_at,
        'wecom' as channel,
        3 as source_rank
    from wecom_contacts
    union all
    select
        'external_userid' as id_type,
        member_userid as id_value,
        joined_at as appeared_at,
        'wecom' as channel,
        3 as source_rank
    from wecom_group_members
    where is_external

),

-- every identifier's first observation of any kind (identity_map keeps one per identifier)
appearances as (

    select
        resolved.person_id,
        resolved.first_seen_at as appeared_at,
        resolved.first_channel as channel,
        false as is_registration,
        9 as source_rank,
        resolved.id_type,
        resolved.id_value
    from resolved

    union all

    select
        resolved.person_id,
        registrations.appeared_at,
        registrations.channel,
        true as is_registration,
        registrations.source_rank,
        registrations.id_type,
        registrations.id_value
    from registrations
    inner join resolved
        on resolved.id_type = registrations.id_type and resolved.id_value = registrations.id_value
    where registrations.appeared_at is not null

),

ranked as (

    select
        *,
        row_number() over (
            partition by person_id
            order by
                appeared_at,
                case when is_registration then 0 else 1 end,
                source_rank,
                id_type,
                id_value,
                channel
        ) as appearance_rank
    from appearances

),

final as (

    select
        -- ids
        person_id,

        -- dimensions
        channel as first_channel,
        is_registration as is_first_seen_at_registration,

        -- timestamps
        appeared_at as first_seen_at
    from ranked
    where appearance_rank = 1

)

select * from final

-- One row per person with a known birthday, from the latest CRM member record. Internal: the
-- published dim_users carries only birth_month; journeys (next-best actions) read the day here.
with

identity_map as (select * from {{ ref('identity_map') }}),
crm_members as (select * from {{ ref('stg_crm__members') }}),

members as (

    select
        identity_map.person_id,
        crm_members.birth_date,
        row_number() over (
            partition by identity_map.person_id
            order by crm_members.updated_at desc, crm_members.member_id asc
        ) as member_rank
    from crm_members
    inner join identity_map
        on identity_map.id_type = 'member_id' and identity_map.id_value = crm_members.member_id
    where identity_map.person_id is not null

),

final as (

    select
        person_id,
        cast(extract(month from birth_date) as {{ dbt.type_int() }}) as birth_month,
        cast(extract(day from birth_date) as {{ dbt.type_int() }}) as birth_day,
        cast(extract(year from birth_date) as {{ dbt.type_int() }}) as birth_year
    from members
    where member_rank = 1 and birth_date is not null

)

select * from final

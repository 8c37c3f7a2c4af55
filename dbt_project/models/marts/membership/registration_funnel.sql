-- One row per acquisition channel x month: the mini-program registration funnel (seed 001,
-- "优化会员注册流程": find the step of registration that loses most). Steps, each counted
-- among the persons who reached the previous one: visit (the mini-program's new visitors of the
-- channel, from its visit statistics, every visitor; at least the persons below) -> authorised
-- phone (a mini-program user who authorised getPhoneNumber) -> member (the person holds a CRM
-- member record) -> first order (the person has an order). A person's month is that of their
-- mini-program registration, their channel dim_users.first_channel; steps count as reached by
-- the end of the data.
with

users as (select * from {{ ref('dim_users') }}),
identity_map as (select * from {{ ref('identity_map') }}),
mp_users as (select * from {{ ref('stg_miniprogram__users') }}),
visit_stats as (select * from {{ ref('stg_miniprogram__visit_stats') }}),
orders as (select * from {{ ref('fct_orders') }}),

mp_persons as (

    select
        identity_map.person_id,
        min(mp_users.registered_at) as registered_at,
        max(case when mp_users.phone is not null then 1 else 0 end) as has_authorised_phone
    from mp_users
    inner join identity_map
        on identity_map.id_type = 'openid' and identity_map.id_value = mp_users.openid
    where identity_map.person_id is not null
    group by identity_map.person_id

),

members as (

    select distinct person_id
    from identity_map
    where id_type = 'member_id' and person_id is not null

),

buyers as (

    select distinct person_id
    from orders
    where person_id is not null

),

person_steps as (

    select
        users.first_channel as channel,
        cast({{ dbt.date_trunc('month', 'mp_persons.registered_at') }} as date) as visit_month,
        mp_persons.has_authorised_phone,
        mp_persons.has_authorised_phone * case when members.person_id is not null then 1 else 0 end
            as is_member,
        mp_persons.has_authorised_phone
        * case when members.person_id is not null then 1 else 0 end
        * case when buyers.person_id is not null then 1 else 0 end as has_first_order
    from mp_persons
    inner join users on users.person_id = mp_persons.person_id
    left join members on members.person_id = mp_persons.person_id
    left join buyers on buyers.person_id = mp_persons.person_id

),

person_counts as (

    select
        channel,
        visit_month,
        count(*) as miniprogram_users,
        sum(has_authorised_phone) as authorised_phone_users,
        sum(is_member) as members,
        sum(has_first_order) as first_order_users
    from person_steps
    group by channel, visit_month

),

visit_counts as (

    select
        channel,
        cast({{ dbt.date_trunc('month', 'visit_date') }} as date) as visit_month,
        sum(new_visitors) as new_visitors
    from visit_stats
    where visit_date is not null
    group by channel, cast({{ dbt.date_trunc('month', 'visit_date') }} as date)

),

counts as (

    select
        coalesce(person_counts.channel, visit_counts.channel) as channel,
        coalesce(person_counts.visit_month, visit_counts.visit_month) as visit_month,
        coalesce(visit_counts.new_visitors, 0) as reported_visitors,
        coalesce(person_counts.miniprogram_users, 0) as miniprogram_users,
        coalesce(person_counts.authorised_phone_users, 0) as authorised_phone_users,
        coalesce(person_counts.members, 0) as members,
        coalesce(person_counts.first_order_users, 0) as first_order_users
    from person_counts
    full outer join visit_counts
        on visit_counts.channel = person_counts.channel and visit_counts.visit_month = person_counts.visit_month

),

rates as (

    select
        channel,
        visit_month,
        -- the statistics may miss visitors (a day not delivered): never fewer than the users
        case
            when reported_visitors > miniprogram_users then reported_visitors else miniprogram_users
        end as visits,
        reported_visitors,
        miniprogram_users,
        authorised_phone_users,
        members,
        first_order_users
    from counts

),

conversions as (

    select
        *,
        1.0 * authorised_phone_users / nullif(visits, 0) as phone_rate,
        1.0 * members / nullif(authorised_phone_users, 0) as member_rate,
        1.0 * first_order_users / nullif(members, 0) as first_order_rate,
        1.0 * first_order_users / nullif(visits, 0) as overall_conversion_rate
    from rates

),

final as (

    select
        -- keys
        channel,
        visit_month,

        -- steps
        cast(visits as {{ dbt.type_bigint() }}) as visits,
        cast(reported_visitors as {{ dbt.type_bigint() }}) as reported_visitors,
        cast(miniprogram_users as {{ dbt.type_bigint() }}) as miniprogram_users,
        cast(authorised_phone_users as {{ dbt.type_bigint() }}) as authorised_phone_users,
        cast(members as {{ dbt.type_bigint() }}) as members,
        cast(first_order_users as {{ dbt.type_bigint() }}) as first_order_users,

        -- conversion of each step from the one before
        phone_rate,
        member_rate,
        first_order_rate,
        overall_conversion_rate,

        -- the step with the lowest conversion (the largest share lost); ties: the earlier step
        case
            when visits = 0 then null
            when authorised_phone_users = 0 then 'authorised_phone'
            when members = 0 then 'member'
            when phone_rate <= member_rate and phone_rate <= coalesce(first_order_rate, 1) then 'authorised_phone'
            when member_rate <= coalesce(first_order_rate, 1) then 'member'
            else 'first_order'
        end as largest_drop_step,
        case
            when visits > 0
                then 1 - least(phone_rate, coalesce(member_rate, 0), coalesce(first_order_rate, 1))
        end as largest_drop_share
    from conversions

)

select * from final

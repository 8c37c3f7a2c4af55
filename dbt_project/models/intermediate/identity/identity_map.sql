-- One row per distinct identifier seen in any extract, with the person it resolves to.
-- person_id is a salted hash of the person's anchor identifier (the one seen first), so re-runs
-- and new identifiers joining a person keep the same person_id.
with

observations as (select * from {{ ref('int_identity__observations') }}),
components as (select * from {{ ref('int_identity__components') }}),
junk as (select * from {{ ref('int_identity__junk_identifiers') }}),

resolved as (

    select
        observations.id_type,
        observations.id_value,
        observations.node_id,
        observations.first_seen_at,
        observations.first_source,
        observations.first_channel,
        components.component_id
    from observations
    left join components on components.node_id = observations.node_id

),

anchors as (

    select
        component_id,
        node_id as anchor_node_id,
        row_number() over (
            partition by component_id order by first_seen_at, id_type, id_value
        ) as anchor_rank
    from resolved
    where component_id is not null

),

persons as (

    select
        component_id,
        'p_' || substr({{ salted_hash('anchor_node_id') }}, 1, 16) as person_id
    from anchors
    where anchor_rank = 1

),

final as (

    select
        resolved.id_type,
        resolved.id_value,
        persons.person_id,
        resolved.first_source,
        resolved.first_channel,
        resolved.first_seen_at,
        junk.node_id is not null as is_junk,
        junk.reason as junk_reason
    from resolved
    left join persons on persons.component_id = resolved.component_id
    left join junk on junk.node_id = resolved.node_id

)

select * from final

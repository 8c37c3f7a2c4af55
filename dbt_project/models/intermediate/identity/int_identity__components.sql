-- Connected components of the identity graph by min-label propagation with pointer jumping,
-- unrolled to var('identity_max_iterations') rounds (portable SQL, no recursive CTE).
-- The test assert_identity_components_converged proves the rounds were enough.
with

observations as (select * from {{ ref('int_identity__observations') }}),
links as (select * from {{ ref('int_identity__links') }}),
junk as (select * from {{ ref('int_identity__junk_identifiers') }}),

nodes as (

    select node_id from observations
    where node_id not in (select node_id from junk)

),

edges as (

    select
        account_node_id as node_a,
        attribute_node_id as node_b
    from links
    where attribute_node_id not in (select node_id from junk)

),

adjacency as (

    select
        node_a as node_id,
        node_b as neighbour_id
    from edges
    union all
    select
        node_b,
        node_a
    from edges
    union all
    select
        node_id,
        node_id
    from nodes

),

labels_0 as (

    select
        node_id,
        node_id as label
    from nodes

),

{% for i in range(1, var('identity_max_iterations') + 1) %}
    propagated_{{ i }} as (

        select
            adjacency.node_id,
            min(labels_{{ i - 1 }}.label) as label
        from adjacency
        inner join labels_{{ i - 1 }} on labels_{{ i - 1 }}.node_id = adjacency.neighbour_id
        group by adjacency.node_id

    ),

    labels_{{ i }} as (

    -- pointer jumping: adopt the label of your label, halving the distance to the root
        select
            propagated_{{ i }}.node_id,
            least(propagated_{{ i }}.label, coalesce(root.label, propagated_{{ i }}.label)) as label
        from propagated_{{ i }}
        left join propagated_{{ i }} as root on root.node_id = propagated_{{ i }}.label

    ),

{% endfor %}

final as (

    select
        node_id,
        label as component_id
    from labels_{{ var('identity_max_iterations') }}

)

select * from final

-- Connected components of the identity graph by min-label propagation with pointer jumping,
-- unrolled to var('identity_max_iterations') rounds (portable SQL, no recursive CTE).
-- The test assert_identity_components_converged proves the rounds were enough.
-- The rounds run on integer node keys numbered in node_id order, so the smallest key of a
-- component is its smallest node_id (the component_id, as before), and each round holds two
-- integers per node instead of two strings; every round is computed once (materialized_cte).
with

observations as (select * from {{ ref('int_identity__observations') }}),
links as (select * from {{ ref('int_identity__links') }}),
junk as (select * from {{ ref('int_identity__junk_identifiers') }}),

-- every node of the graph, junk included (a junk account keeps its links; a junk attribute has none)
node_keys as {{ materialized_cte() }} (

    select
        node_id,
        row_number() over (order by node_id) as node_key
    from (
        select node_id from observations
        union
        select account_node_id from links
        union
        select attribute_node_id from links
    ) as graph_nodes

),

nodes as (

    select node_keys.node_key
    from observations
    inner join node_keys on node_keys.node_id = observations.node_id
    where observations.node_id not in (select node_id from junk)

),

edges as (

    select
        account_key.node_key as node_a,
        attribute_key.node_key as node_b
    from links
    inner join node_keys as account_key on account_key.node_id = links.account_node_id
    inner join node_keys as attribute_key on attribute_key.node_id = links.attribute_node_id
    where links.attribute_node_id not in (select node_id from junk)

),

adjacency as {{ materialized_cte() }} (

    select
        node_a as node_key,
        node_b as neighbour_key
    from edges
    union all
    select
        node_b as node_key,
        node_a as neighbour_key
    from edges
    union all
    select
        node_key,
        node_key as neighbour_key
    from nodes

),

labels_0 as (

    select
        node_key,
        node_key as label_key
    from nodes

),

{% for i in range(1, var('identity_max_iterations') + 1) %}
    propagated_{{ i }} as {{ materialized_cte() }} (

        select
            adjacency.node_key,
            min(labels_{{ i - 1 }}.label_key) as label_key
        from adjacency
        inner join labels_{{ i - 1 }} on labels_{{ i - 1 }}.node_key = adjacency.neighbour_key
        group by adjacency.node_key

    ),

    labels_{{ i }} as {{ materialized_cte() }} (

        -- pointer jumping: adopt the label of your label, halving the distance to the root
        -- (macros/identity/pointer_jump.sql: a self-join, or on Spark one scan and a window)
        {{ pointer_jump('propagated_' ~ i) }}

    ),

{% endfor %}

final as (

    select
        node_keys.node_id,
        component_keys.node_id as component_id
    from labels_{{ var('identity_max_iterations') }} as labels
    inner join node_keys on node_keys.node_key = labels.node_key
    inner join node_keys as component_keys on component_keys.node_key = labels.label_key

)

select * from final

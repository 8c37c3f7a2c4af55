-- Every edge of the identity graph joins two identifiers of the same component. If this fails,
-- raise var identity_max_iterations: label propagation stopped before it converged.
-- It reads two models: the meta attaches it to the components, where Dagster shows it as the
-- asset check `assert_identity_components_converged` (blocking: nothing downstream runs on a
-- graph that did not converge).
{{ config(severity='error', meta={'dagster': {'ref': {'name': 'int_identity__components'}}}) }}

with

links as (select * from {{ ref('int_identity__links') }}),
components as (select * from {{ ref('int_identity__components') }}),

split_edges as (

    select
        links.account_node_id,
        links.attribute_node_id
    from links
    inner join components as account_components
        on account_components.node_id = links.account_node_id
    inner join components as attribute_components
        on attribute_components.node_id = links.attribute_node_id
    where account_components.component_id <> attribute_components.component_id

)

select * from split_edges

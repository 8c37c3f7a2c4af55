-- Identifiers kept out of the identity graph: on the block list, or attached to more accounts
-- than one person plausibly has (a store's shared phone typed on hundreds of members).
with

links as (select * from {{ ref('int_identity__links') }}),
blocklist as (select * from {{ ref('identity_blocklist') }}),

fan_out as (

    select
        attribute_node_id as node_id,
        attribute_type as id_type,
        attribute_value as id_value,
        count(distinct account_node_id) as n_accounts
    from links
    group by 1, 2, 3

),

too_shared as (

    select
        node_id,
        id_type,
        id_value,
        n_accounts,
        'linked to ' || cast(n_accounts as {{ dbt.type_string() }}) || ' accounts' as reason
    from fan_out
    where n_accounts > {{ siyu.junk_max_accounts() }}

),

blocked as (

    select
        blocklist.id_type || ':' || blocklist.id_value as node_id,
        blocklist.id_type,
        blocklist.id_value,
        coalesce(fan_out.n_accounts, 0) as n_accounts,
        'block list: ' || blocklist.reason as reason
    from blocklist
    left join fan_out
        on fan_out.node_id = blocklist.id_type || ':' || blocklist.id_value

),

unioned as (

    select * from blocked
    union all
    select * from too_shared
    where node_id not in (select node_id from blocked)

),

final as (

    select * from unioned

)

select * from final

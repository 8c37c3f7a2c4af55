-- One row per order, CRM (store, online mall) and mini-program, keyed to the person.
-- Incremental by load day: a run merges the orders loaded in its window, plus orders whose
-- person changed because identity resolution merged, split or re-anchored persons.
-- Money is DECIMAL(18,2), exact cents: staging gives CRM yuan as a decimal but mini-program fen / 100
-- as a double, and sums or rankings over doubles depend on the order rows are added in.
{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='replace_touched_keys',
        presence_column='channel',
        on_schema_change='append_new_columns',
    )
}}
-- Incremental (macros/staging/incremental_facts.sql). A re-loaded past day (rows landed after
-- the window) can change an order through a delivery that is not its latest (was_paid): then
-- every order is recomputed.
{%- set incremental = fact_is_incremental() %}
{%- set rows_after_window -%}
    ({{ rows_after_run_window(ref('stg_crm__orders')) }}
    or {{ rows_after_run_window(ref('stg_miniprogram__orders')) }})
{%- endset %}

with

{% if incremental -%}
existing_in_window as (

    select order_id from {{ this }}
    where {{ in_run_window('_partition_date') }} or {{ rows_after_window }}

),

{% endif -%}
crm_orders as (

    select * from {{ ref('stg_crm__orders') }}
    {%- if incremental %}
    where
        {{ in_run_window('_partition_date') }}
        or {{ rows_after_window }}
        or order_id in (
            select substr(order_id, 5) from existing_in_window
            where order_id like 'crm:%'
        )
    {%- endif %}

),

mp_orders as (

    select * from {{ ref('stg_miniprogram__orders') }}
    {%- if incremental %}
    where
        {{ in_run_window('_partition_date') }}
        or {{ rows_after_window }}
        or order_id in (
            select substr(order_id, 4) from existing_in_window
            where order_id like 'mp:%'
        )
    {%- endif %}

),

identifiers as (

    {{ hashed_identifiers(ref('identity_map'), ['member_id', 'openid']) }}

),

unioned as (

    select
        'crm:' || order_id as order_id,
        'member_id' as id_type,
        member_id as id_value,
        case when store_name like '%线上%' then 'online_mall' else 'store' end as channel,
        ordered_at,
        {{ money_cny('amount_cny') }} as amount_cny,
        {{ money_cny('discount_cny') }} as discount_cny,
        is_coupon_used,
        is_refunded,
        _partition_date
    from crm_orders
    union all
    select
        'mp:' || order_id,
        'openid',
        openid,
        'miniprogram',
        ordered_at,
        {{ money_cny('amount_cny') }},
        {{ money_cny('discount_cny') }},
        is_coupon_used,
        is_refunded,
        _partition_date
    from mp_orders

),

keyed as (

    select
        -- ids
        unioned.order_id,
        identifiers.person_id,

        -- dimensions
        unioned.channel,
        unioned.is_coupon_used as coupon_used,
        unioned.is_refunded,

        -- measures (CNY)
        unioned.amount_cny as amount,
        unioned.discount_cny as discount_amount,

        -- timestamps
        unioned.ordered_at,
        cast(unioned.ordered_at as date) as ordered_date,

        -- lineage
        unioned._partition_date,
        -- the identifier the row is keyed by (salted), to re-key it when its person changes
        identifiers.identifier_hash
    from unioned
    left join identifiers
        on identifiers.id_type = unioned.id_type and identifiers.id_value = unioned.id_value

),

{% if incremental %}
touched_keys as (

    select order_id from unioned
    where {{ in_run_window('_partition_date') }} or {{ rows_after_window }}
    union
    select order_id from existing_in_window

),

{% endif %}
final as (

    {% if incremental %}
        {{ fact_touched_rows('keyed', 'touched_keys', 'order_id', [
            'order_id', 'person_id', 'channel', 'coupon_used', 'is_refunded', 'amount',
            'discount_amount', 'ordered_at', 'ordered_date', '_partition_date', 'identifier_hash',
        ]) }}
    {% else %}
        select * from keyed
    {% endif %}

)

select * from final

-- One row per buyer: BG/NBD + Gamma-Gamma outputs of the CLV model. Renamed and typed only; the marts read it through here, never the source.
with

source as (select * from {{ source('ml', 'user_clv') }}),

final as (

    select
        -- ids
        person_id,

        -- measures
        -- typed here: a hand-made or older ml.user_clv may hold decimals, the contract says double
        cast(p_alive as double) as p_alive,
        cast(expected_orders_365d as double) as expected_orders_365d,
        cast(expected_order_value as double) as expected_order_value,
        cast(clv_365d as double) as clv_365d,

        -- timestamps
        clv_as_of
    from source

)

select * from final

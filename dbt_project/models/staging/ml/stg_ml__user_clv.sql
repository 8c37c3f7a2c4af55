-- One row per buyer: BG/NBD + Gamma-Gamma outputs of the CLV model. Renamed and typed only; the marts read it through here, never the source.
with

source as (select * from {{ source('ml', 'user_clv') }}),

final as (

    select
        -- ids
        person_id,

        -- measures
        p_alive,
        expected_orders_365d,
        expected_order_value,
        clv_365d,

        -- timestamps
        clv_as_of
    from source

)

select * from final

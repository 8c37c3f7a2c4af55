with

source as (

    select * from {{ source('miniprogram', 'miniprogram__orders') }}

),

renamed as (

    select
        -- ids
        trim(order_id) as order_id,
        trim(openid) as openid,
        nullif(trim(coupon_id), '') as coupon_id,

        -- dimensions
        coupon_id is not null and trim(coupon_id) <> '' as is_coupon_used,
        order_status = 'refunded' as is_refunded,

        -- measures: the mini-program pays in fen
        cast(total_fee_fen as {{ dbt.type_numeric() }}) / 100 as amount_cny,
        coalesce(cast(discount_fee_fen as {{ dbt.type_numeric() }}), 0) / 100 as discount_cny,

        -- timestamps
        {{ epoch_to_local('created_at', 'ms') }} as ordered_at,

        -- lineage
        _partition_date,
        _loaded_at,
        _row_number
    from source

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by order_id order by _partition_date desc, _loaded_at desc, _row_number desc
        ) as delivery_rank
    from renamed

),

final as (

    select * from deduplicated
    where delivery_rank = 1

)

select * from final

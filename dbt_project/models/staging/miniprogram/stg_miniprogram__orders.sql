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
        -- ingestion quarantines any other value (rule unknown_value), so none is null here
        case order_status
            when 'paid' then 'completed'
            when 'refunded' then 'refunded'
            when 'cancelled' then 'cancelled'
            when 'pending' then 'pending'
        end as order_status,

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
        ) as delivery_rank,
        -- some delivery of the order said it was paid (refunded orders were paid)
        {{ order_was_paid() }} as was_paid
    from renamed

),

final as (

    -- The order-status rule (macros/orders.sql); a null status stays for the tests to fail.
    select
        order_id,
        openid,
        coupon_id,
        is_coupon_used,
        order_status,
        order_status <> 'completed' as is_refunded,
        amount_cny,
        discount_cny,
        ordered_at,
        _partition_date,
        _loaded_at,
        _row_number,
        delivery_rank
    from deduplicated
    where
        delivery_rank = 1
        and {{ order_is_kept() }}

)

select * from final

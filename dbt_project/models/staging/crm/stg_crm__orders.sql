with

source as (

    select * from {{ source('crm', 'crm__orders') }}

),

renamed as (

    select
        -- ids
        trim(order_id) as order_id,
        trim(member_id) as member_id,

        -- dimensions
        store_name,
        coupon_used = '是' as is_coupon_used,
        order_status = '已退款' as is_refunded,

        -- measures
        cast(amount_cny as {{ dbt.type_numeric() }}) as amount_cny,
        coalesce(cast(discount_cny as {{ dbt.type_numeric() }}), 0) as discount_cny,

        -- timestamps
        {{ local_ts('ordered_at') }} as ordered_at,

        -- lineage
        _partition_date,
        _loaded_at,
        _row_number

    from source

),

deduplicated as (

    -- duplicate rows and re-delivered files carry the same order: the latest delivery wins
    select
        *,
        row_number() over (
            partition by order_id
            order by _partition_date desc, _loaded_at desc, _row_number desc
        ) as delivery_rank
    from renamed

),

final as (

    select * from deduplicated
    where delivery_rank = 1

)

select * from final

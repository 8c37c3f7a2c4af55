with

source as (

    select * from {{ source('crm', 'crm__points') }}

),

renamed as (

    select
        trim(entry_id) as entry_id,
        trim(member_id) as member_id,
        reason as change_reason,
        cast(points_delta as {{ dbt.type_int() }}) as points_delta,
        {{ local_ts('changed_at') }} as changed_at,
        _partition_date,
        _loaded_at,
        _row_number
    from source

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by entry_id order by _partition_date desc, _row_number desc
        ) as delivery_rank
    from renamed

),

final as (

    select * from deduplicated
    where delivery_rank = 1

)

select * from final

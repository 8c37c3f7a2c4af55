with

source as (

    select * from {{ source('wecom', 'wecom__group_members') }}

),

renamed as (

    select
        trim(chat_id) as chat_id,
        trim(member_userid) as member_userid,
        cast(member_type as {{ dbt.type_int() }}) = 2 as is_external,
        nullif(trim(unionid), '') as unionid,
        join_scene,
        {{ epoch_to_local('joined_at', 's') }} as joined_at,
        _partition_date,
        _loaded_at,
        _row_number
    from source

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by chat_id, member_userid
            order by _partition_date desc, _row_number desc
        ) as delivery_rank
    from renamed

),

final as (

    select * from deduplicated
    where delivery_rank = 1

)

select * from final

with

source as (

    select * from {{ source('wecom', 'wecom__external_contacts') }}

),

renamed as (

    select
        -- ids
        trim(external_userid) as external_userid,
        nullif(trim(unionid), '') as unionid,
        trim(staff_userid) as staff_userid,
        {{ normalize_phone(dbt.split_part('remark_mobiles', "'|'", 1)) }} as remark_phone,

        -- dimensions
        contact_name,
        remark,
        tags,
        add_way,
        add_state,
        gender,

        -- timestamps
        {{ epoch_to_local('added_at', 's') }} as added_at,

        -- lineage
        _partition_date,
        _loaded_at,
        _row_number
    from source

),

deduplicated as (

    -- one relationship per contact and staff member; the latest delivery wins
    select
        *,
        row_number() over (
            partition by external_userid, staff_userid
            order by _partition_date desc, _loaded_at desc, _row_number desc
        ) as delivery_rank
    from renamed

),

final as (

    select * from deduplicated
    where delivery_rank = 1

)

select * from final

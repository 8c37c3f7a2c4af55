with

{{ staging_source(source('wecom', 'wecom__group_members'), {'chat_id': 'trim(chat_id)', 'member_userid': 'trim(member_userid)'}) }},

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

{{ deduplicate_deliveries('renamed', order_by='_partition_date desc, _row_number desc') }}

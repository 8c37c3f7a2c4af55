with

{{ staging_source(source('crm', 'crm__points'), {'entry_id': 'trim(entry_id)'}) }},

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

{{ deduplicate_deliveries('renamed', order_by='_partition_date desc, _row_number desc') }}

with

{{ staging_source(source('crm', 'crm__feedback'), {'feedback_id': 'trim(feedback_id)'}) }},

renamed as (

    select
        trim(feedback_id) as feedback_id,
        trim(member_id) as member_id,
        cast(rating as {{ dbt.type_int() }}) as rating,
        feedback_text,
        {{ local_ts('submitted_at') }} as submitted_at,
        _partition_date,
        _loaded_at,
        _row_number
    from source

),

{{ deduplicate_deliveries('renamed', order_by='_partition_date desc, _row_number desc') }}

with

{{ staging_source(source('miniprogram', 'miniprogram__visit_stats'), {'visit_date': 'cast(ref_date as date)', 'channel': 'channel'}) }},

renamed as (

    select
        -- keys
        cast(ref_date as date) as visit_date,
        channel,

        -- measures
        cast(visit_uv_new as {{ dbt.type_bigint() }}) as new_visitors,

        -- lineage
        _partition_date,
        _loaded_at,
        _row_number
    from source

),

{{ deduplicate_deliveries('renamed', order_by='_partition_date desc, _loaded_at desc, _row_number desc') }}

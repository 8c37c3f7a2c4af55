with

{{ staging_source(source('miniprogram', 'miniprogram__events'), {'event_id': 'trim(event_id)'}) }},

renamed as (

    select
        -- ids
        trim(event_id) as event_id,
        trim(openid) as openid,
        nullif(trim(coupon_id), '') as coupon_id,

        -- free text, published in fct_interactions (campaign_id, scenario): an identifier typed
        -- into it is masked (macros/mask_identifiers.sql)
        {{ mask_identifiers("nullif(trim(campaign_id), '')") }} as campaign_id,
        {{ mask_identifiers('event_name') }} as event_name,

        -- dimensions
        page,
        scenario,

        -- measures
        cast(discount_cny as {{ dbt.type_numeric() }}) as discount_cny,

        -- timestamps
        {{ epoch_to_local('event_at', 'ms') }} as event_at,

        -- lineage
        _partition_date,
        _loaded_at,
        _row_number
    from source

),

{{ deduplicate_deliveries('renamed', order_by='_partition_date desc, _loaded_at desc, _row_number desc') }}

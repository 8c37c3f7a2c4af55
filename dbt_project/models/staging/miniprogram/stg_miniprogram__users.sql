with

{{ staging_source(source('miniprogram', 'miniprogram__users'), {'openid': 'trim(openid)'}) }},

renamed as (

    select
        -- ids
        trim(openid) as openid,
        nullif(trim(unionid), '') as unionid,
        {{ normalize_phone('phone_number') }} as phone,

        -- dimensions
        nickname,
        scene,
        lower(consent_marketing) in ('true', '1') as has_marketing_consent,

        -- timestamps
        {{ epoch_to_local('registered_at', 'ms') }} as registered_at,
        {{ epoch_to_local('unsubscribed_at', 'ms') }} as unsubscribed_at,
        coalesce(
            {{ epoch_to_local('updated_at', 'ms') }}, {{ epoch_to_local('registered_at', 'ms') }}
        ) as updated_at,

        -- lineage
        _partition_date,
        _loaded_at,
        _row_number
    from source

),

{{ deduplicate_deliveries('renamed', order_by='updated_at desc, _partition_date desc, _row_number desc') }}

with

{{ staging_source(source('crm', 'crm__members'), {'member_id': 'trim(member_id)'}) }},

renamed as (

    select
        -- ids
        trim(member_id) as member_id,
        {{ normalize_phone('phone') }} as phone,

        -- dimensions
        member_name,
        case registration_channel
            when '门店' then 'store'
            when '线上商城' then 'online_mall'
            when '小程序' then 'miniprogram'
            when '企业微信' then 'wecom'
            -- empty: the export did not say (ingestion quarantines any other label, unknown_value)
            else 'other'
        end as registration_channel,
        case member_tier
            when '普通会员' then 'regular'
            when '银卡会员' then 'silver'
            when '金卡会员' then 'gold'
            when '钻石会员' then 'diamond'
            else 'unknown'
        end as member_tier,
        {{ dbt.safe_cast('birthday', api.Column.translate_type('date')) }} as birth_date,
        -- free text: a phone or id typed into it is masked (macros/mask_identifiers.sql)
        {{ mask_identifiers('city') }} as city,
        consent_marketing = '是' as has_marketing_consent,

        -- timestamps (business local time)
        {{ local_ts('registered_at') }} as registered_at,
        {{ local_ts('unsubscribed_at') }} as unsubscribed_at,
        coalesce({{ local_ts('updated_at') }}, {{ local_ts('registered_at') }}) as updated_at,

        -- lineage
        _partition_date,
        _loaded_at,
        _row_number

    from source

),

-- a member is re-delivered whenever it changes: keep the latest version
{{ deduplicate_deliveries('renamed', order_by='updated_at desc, _partition_date desc, _row_number desc') }}

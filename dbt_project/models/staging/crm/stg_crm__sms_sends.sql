with

{{ staging_source(source('crm', 'crm__sms_sends'), {'member_id': 'trim(member_id)'}) }},

renamed as (

    select
        -- Free text typed by staff (campaign, experiment, scenario, content, variant) is published
        -- in fct_interactions: a phone or an openid typed into it is masked
        -- (macros/mask_identifiers.sql). Masked before the deduplication, so two sends whose
        -- campaign ids are both masked count once, never as a duplicate key.

        -- ids
        {{ mask_identifiers('trim(campaign_id)') }} as campaign_id,
        trim(member_id) as member_id,
        {{ mask_identifiers("nullif(trim(experiment_id), '')") }} as experiment_id,

        -- dimensions
        {{ mask_identifiers('scenario') }} as scenario,
        {{ mask_identifiers('content_type') }} as content_type,
        {{ mask_identifiers("nullif(trim(variant), '')") }} as variant,
        send_status = '成功' as is_delivered,

        -- timestamps
        {{ local_ts('sent_at') }} as sent_at,

        -- lineage
        _partition_date,
        _loaded_at,
        _row_number
    from source

),

{{ deduplicate_deliveries('renamed', order_by='_partition_date desc, _row_number desc') }}

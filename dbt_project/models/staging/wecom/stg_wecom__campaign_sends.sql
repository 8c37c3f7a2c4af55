with

{{ staging_source(source('wecom', 'wecom__campaign_sends'), {'external_userid': 'trim(external_userid)'}) }},

renamed as (

    select
        -- Free text typed by staff (campaign, experiment, scenario, content, variant) is published
        -- in fct_interactions: an external_userid or a phone typed into it is masked
        -- (macros/mask_identifiers.sql). Masked before the deduplication, so two sends whose
        -- campaign ids are both masked count once, never as a duplicate key.

        -- ids
        {{ mask_identifiers('trim(campaign_id)') }} as campaign_id,
        trim(external_userid) as external_userid,
        trim(sender) as sender_userid,
        {{ mask_identifiers("nullif(trim(experiment_id), '')") }} as experiment_id,

        -- dimensions
        case when chat_type = 'group' then 'wecom_group' else 'wecom_1v1' end as channel,
        {{ mask_identifiers('scenario') }} as scenario,
        {{ mask_identifiers('content_type') }} as content_type,
        {{ mask_identifiers("nullif(trim(variant), '')") }} as variant,
        send_status = 'sent' as is_delivered,

        -- timestamps
        {{ epoch_to_local('sent_at', 's') }} as sent_at,

        -- lineage
        _partition_date,
        _loaded_at,
        _row_number
    from source

),

{{ deduplicate_deliveries('renamed', order_by='_partition_date desc, _loaded_at desc, _row_number desc') }}

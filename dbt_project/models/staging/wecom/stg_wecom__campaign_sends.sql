with

source as (

    select * from {{ source('wecom', 'wecom__campaign_sends') }}

),

renamed as (

    select
        -- ids
        trim(campaign_id) as campaign_id,
        trim(external_userid) as external_userid,
        trim(sender) as sender_userid,
        nullif(trim(experiment_id), '') as experiment_id,

        -- dimensions
        case when chat_type = 'group' then 'wecom_group' else 'wecom_1v1' end as channel,
        scenario,
        content_type,
        nullif(trim(variant), '') as variant,
        send_status = 'sent' as is_delivered,

        -- timestamps
        {{ epoch_to_local('sent_at', 's') }} as sent_at,

        -- lineage
        _partition_date,
        _loaded_at,
        _row_number
    from source

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by campaign_id, external_userid
            order by _partition_date desc, _loaded_at desc, _row_number desc
        ) as delivery_rank
    from renamed

),

final as (

    select * from deduplicated
    where delivery_rank = 1

)

select * from final

with

{{ staging_source(source('wecom', 'wecom__messages'), {'msgid': 'trim(msgid)'}) }},

renamed as (

    select
        -- ids
        trim(msgid) as msgid,
        trim(from_userid) as from_userid,
        -- a 1:1 message has one recipient; group messages are addressed to the room
        trim({{ dbt.split_part('tolist', "'|'", 1) }}) as first_recipient_id,
        nullif(trim(roomid), '') as room_id,

        -- dimensions
        -- published as fct_interactions.content_type: masked like free text
        -- (macros/mask_identifiers.sql)
        {{ mask_identifiers('msgtype') }} as message_type,
        content as message_text,
        -- external contacts' ids start with wm/wo; everything else is a staff member
        (from_userid like 'wm%' or from_userid like 'wo%') as is_inbound,

        -- timestamps
        {{ epoch_to_local('sent_at', 'ms') }} as sent_at,

        -- lineage
        _partition_date,
        _loaded_at,
        _row_number
    from source
    where coalesce(action, 'send') = 'send'

),

{{ deduplicate_deliveries('renamed', order_by='_partition_date desc, _loaded_at desc, _row_number desc') }}

-- One row per classified inbound WeCom message (1:1 or in a customer group) of a known person:
-- its intent (seed 2.3.3) and the model's confidence. Consent (int_users__contactability) reads
-- the unsubscribe requests from here, human_takeover_queue the messages a person must handle.
with

messages as (select * from {{ ref('stg_wecom__messages') }}),
intents as (select * from {{ ref('stg_ml__inbound_message_intents') }}),

identifiers as (

    {{ hashed_identifiers(ref('identity_map'), ['external_userid']) }}

),

inbound as (

    select
        msgid,
        from_userid,
        room_id,
        sent_at
    from messages
    where is_inbound

),

final as (

    select
        -- ids
        inbound.msgid as message_id,
        -- the message's row in fct_interactions
        'msg:' || inbound.msgid as interaction_id,
        identifiers.person_id,

        -- dimensions
        case when inbound.room_id is null then 'wecom_1v1' else 'wecom_group' end as channel,
        intents.intent,
        intents.model_version,

        -- measures
        intents.confidence,

        -- timestamps
        inbound.sent_at
    from inbound
    inner join intents on intents.msgid = inbound.msgid
    inner join identifiers
        on identifiers.id_type = 'external_userid' and identifiers.id_value = inbound.from_userid
    where identifiers.person_id is not null

)

select * from final

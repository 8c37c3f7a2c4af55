-- One row per interaction between the brand and a person: outbound touches (mass sends, SMS,
-- 1:1 staff messages) and inbound actions (messages, mini-program events).
-- Staff messages posted into a group are not person-level and are left out.
{{
    config(
        materialized='incremental',
        unique_key='interaction_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}

with

messages as (select * from {{ ref('stg_wecom__messages') }}),
campaign_sends as (select * from {{ ref('stg_wecom__campaign_sends') }}),
sms_sends as (select * from {{ ref('stg_crm__sms_sends') }}),
mp_events as (select * from {{ ref('stg_miniprogram__events') }}),
identity_map as (select * from {{ ref('identity_map') }}),

unioned as (

    select
        'msg:' || msgid as interaction_id,
        'external_userid' as id_type,
        case when is_inbound then from_userid else first_recipient_id end as id_value,
        sent_at as occurred_at,
        case when room_id is null then 'wecom_1v1' else 'wecom_group' end as channel,
        case when is_inbound then 'inbound' else 'outbound' end as direction,
        case
            when is_inbound and room_id is null then 'chat'
            when is_inbound then 'group_chat'
            else 'service_reply'
        end as scenario,
        message_type as content_type,
        cast(null as {{ dbt.type_string() }}) as campaign_id,
        cast(null as {{ dbt.type_string() }}) as experiment_id,
        cast(null as {{ dbt.type_string() }}) as variant,
        _partition_date
    from messages
    where is_inbound or room_id is null

    union all

    select
        'cmp:' || {{ salted_hash(dbt.concat(['campaign_id', "'|'", 'external_userid'])) }},
        'external_userid',
        external_userid,
        sent_at,
        channel,
        'outbound',
        scenario,
        content_type,
        campaign_id,
        experiment_id,
        variant,
        _partition_date
    from campaign_sends
    where is_delivered

    union all

    select
        'sms:' || {{ salted_hash(dbt.concat(['campaign_id', "'|'", 'member_id'])) }},
        'member_id',
        member_id,
        sent_at,
        'sms',
        'outbound',
        scenario,
        content_type,
        campaign_id,
        experiment_id,
        variant,
        _partition_date
    from sms_sends
    where is_delivered

    union all

    select
        'evt:' || event_id,
        'openid',
        openid,
        event_at,
        'miniprogram',
        'inbound',
        event_name,
        'event',
        campaign_id,
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        _partition_date
    from mp_events

),

keyed as (

    select
        -- ids
        unioned.interaction_id,
        identity_map.person_id,
        unioned.campaign_id,
        unioned.experiment_id,

        -- dimensions
        unioned.channel,
        unioned.direction,
        unioned.scenario,
        unioned.content_type,
        unioned.variant,

        -- timestamps
        unioned.occurred_at,
        cast(unioned.occurred_at as date) as occurred_date,

        -- lineage
        unioned._partition_date
    from unioned
    inner join identity_map
        on identity_map.id_type = unioned.id_type and identity_map.id_value = unioned.id_value
    where identity_map.person_id is not null

),

final as (

    select * from keyed
    {% if is_incremental() %}
    where
        (_partition_date >= {{ run_window_start() }} and _partition_date < {{ run_window_end() }})
        or interaction_id in (
            select existing.interaction_id
            from {{ this }} as existing
            inner join keyed as current_keys on current_keys.interaction_id = existing.interaction_id
            where existing.person_id <> current_keys.person_id
        )
    {% endif %}

)

select * from final

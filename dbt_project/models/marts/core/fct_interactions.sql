-- One row per interaction between the brand and a person: outbound touches (mass sends, SMS,
-- 1:1 staff messages) and inbound actions (messages, mini-program events).
-- Staff messages posted into a group are not person-level and are left out.
{{
    config(
        materialized=incremental_or_table(),
        unique_key='interaction_id',
        incremental_strategy='replace_touched_keys',
        presence_column='person_id',
        on_schema_change='append_new_columns',
    )
}}
-- Incremental (macros/staging/incremental_facts.sql): a run reads the staging rows of its window
-- and the rows it took from the window before, and re-keys rows whose person changed.
{%- set incremental = fact_is_incremental() %}

with

{% if incremental -%}
    existing_in_window as (

        select
            interaction_id,
            campaign_id
        from {{ this }}
        where {{ in_run_window('_partition_date') }}

    ),

{% endif -%}
messages as (

    select * from {{ ref('stg_wecom__messages') }}
    {%- if incremental %}
        where
            {{ in_run_window('_partition_date') }}
            or msgid in (
                select substr(interaction_id, 5) from existing_in_window
                where interaction_id like 'msg:%'
            )
    {%- endif %}

),

campaign_sends as (

    select * from {{ ref('stg_wecom__campaign_sends') }}
    {%- if incremental %}
        where
            {{ in_run_window('_partition_date') }}
            or campaign_id in (
                select campaign_id from existing_in_window
                where interaction_id like 'cmp:%'
            )
    {%- endif %}

),

sms_sends as (

    select * from {{ ref('stg_crm__sms_sends') }}
    {%- if incremental %}
        where
            {{ in_run_window('_partition_date') }}
            or campaign_id in (
                select campaign_id from existing_in_window
                where interaction_id like 'sms:%'
            )
    {%- endif %}

),

mp_events as (

    select * from {{ ref('stg_miniprogram__events') }}
    {%- if incremental %}
        where
            {{ in_run_window('_partition_date') }}
            or event_id in (
                select substr(interaction_id, 5) from existing_in_window
                where interaction_id like 'evt:%'
            )
    {%- endif %}

),

identifiers as (

    {{ hashed_identifiers(ref('identity_map'), ['external_userid', 'member_id', 'openid']) }}

),

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
        'cmp:' || {{ salted_hash(dbt.concat(['campaign_id', "'|'", 'external_userid'])) }} as interaction_id,
        'external_userid' as id_type,
        external_userid as id_value,
        sent_at as occurred_at,
        channel,
        'outbound' as direction,
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
        'sms:' || {{ salted_hash(dbt.concat(['campaign_id', "'|'", 'member_id'])) }} as interaction_id,
        'member_id' as id_type,
        member_id as id_value,
        sent_at as occurred_at,
        'sms' as channel,
        'outbound' as direction,
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
        'evt:' || event_id as interaction_id,
        'openid' as id_type,
        openid as id_value,
        event_at as occurred_at,
        'miniprogram' as channel,
        'inbound' as direction,
        event_name as scenario,
        'event' as content_type,
        campaign_id,
        cast(null as {{ dbt.type_string() }}) as experiment_id,
        cast(null as {{ dbt.type_string() }}) as variant,
        _partition_date
    from mp_events

),

keyed as (

    select
        -- ids
        unioned.interaction_id,
        identifiers.person_id,
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
        unioned._partition_date,
        -- the identifier the row is keyed by (salted), to re-key it when its person changes
        identifiers.identifier_hash
    from unioned
    inner join identifiers
        on identifiers.id_type = unioned.id_type and identifiers.id_value = unioned.id_value
    where identifiers.person_id is not null

),

{% if incremental %}
    touched_keys as (

        select interaction_id from unioned
        where {{ in_run_window('_partition_date') }}
        union
        select interaction_id from existing_in_window

    ),

{% endif %}
final as (

    {% if incremental %}
        {{ fact_touched_rows('keyed', 'touched_keys', 'interaction_id', [
            'interaction_id', 'person_id', 'campaign_id', 'experiment_id', 'channel', 'direction',
            'scenario', 'content_type', 'variant', 'occurred_at', 'occurred_date', '_partition_date',
            'identifier_hash',
        ]) }}
    {% else %}
        select * from keyed
    {% endif %}

)

select * from final

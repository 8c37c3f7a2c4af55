-- One row per classified inbound WeCom message: the intent model's output (ml.inbound_message_intents), renamed and typed only.
-- The intent step writes its table before the first dbt step (consent reads it); a dbt run on the
-- raw tables alone (no intent step yet) reads no intents instead of failing.
{%- set intents = source('ml', 'inbound_message_intents') %}
{%- set written = not execute or adapter.get_relation(
    database=intents.database, schema=intents.schema, identifier=intents.identifier
) is not none %}

with

source as (

    {% if written -%}
        select * from {{ intents }}
    {%- else -%}
        select
            cast(null as {{ dbt.type_string() }}) as msgid,
            cast(null as {{ dbt.type_string() }}) as intent,
            cast(null as {{ dbt.type_float() }}) as confidence,
            cast(null as {{ dbt.type_string() }}) as model_version,
            cast(null as {{ dbt.type_timestamp() }}) as scored_at
        where 1 = 0
    {%- endif %}

),

final as (

    select
        -- ids
        msgid,

        -- dimensions
        intent,
        model_version,

        -- measures
        cast(confidence as double) as confidence,

        -- timestamps
        scored_at
    from source

)

select * from final

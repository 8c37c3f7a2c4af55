{#-
  Every *_at column is a naive timestamp in business local time (Asia/Shanghai, UTC+8, no DST),
  so a business date is a plain cast to date on every engine.
-#}
{% macro epoch_to_local(column, unit='s') -%}
    {{ return(adapter.dispatch('epoch_to_local', 'siyu')(column, unit)) }}
{%- endmacro %}

{% macro default__epoch_to_local(column, unit) -%}
    {%- set seconds = 'cast(' ~ column ~ ' as bigint)' if unit == 's' else 'cast(' ~ column ~ ' as bigint) / 1000.0' -%}
    {{ dbt.dateadd('hour', var('business_utc_offset_hours'), 'timestamp_seconds(' ~ seconds ~ ')') }}
{%- endmacro %}

{% macro duckdb__epoch_to_local(column, unit) -%}
    {%- set micros = 'cast(' ~ column ~ ' as bigint) * ' ~ ('1000000' if unit == 's' else '1000') -%}
    (make_timestamp({{ micros }}) + interval {{ var('business_utc_offset_hours') }} hour)
{%- endmacro %}

{#- Spark: the session time zone is UTC (profiles.yml), so timestamp_seconds / timestamp_millis
    give the UTC wall time and the offset makes it local, as on DuckDB. -#}
{% macro spark__epoch_to_local(column, unit) -%}
    {%- set fn = 'timestamp_seconds' if unit == 's' else 'timestamp_millis' -%}
    timestampadd(hour, {{ var('business_utc_offset_hours') }}, {{ fn }}(cast({{ column }} as bigint)))
{%- endmacro %}

{#- Ingestion rewrites CRM local times to ISO 'YYYY-MM-DD HH:MM:SS', so a cast is portable. -#}
{% macro local_ts(column) -%}
    cast({{ column }} as timestamp)
{%- endmacro %}

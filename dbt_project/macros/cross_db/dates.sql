{#- The ISO day of the week of a date: Monday 1 .. Sunday 7. -#}
{% macro iso_day_of_week(expression) -%}
    {{ return(adapter.dispatch('iso_day_of_week', 'siyu')(expression)) }}
{%- endmacro %}

{% macro default__iso_day_of_week(expression) -%}
    extract(isodow from {{ expression }})
{%- endmacro %}

{% macro spark__iso_day_of_week(expression) -%}
    extract(dayofweek_iso from {{ expression }})
{%- endmacro %}

{#- dbt-spark's dateadd counts in whole unix seconds, so a timestamp loses its milliseconds
    (an SLA due time 15:08:49.163 becomes 15:08:49). Spark's timestampadd keeps every microsecond
    and, like DuckDB's date + interval, returns a timestamp. -#}
{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
    timestampadd({{ datepart }}, {{ interval }}, cast({{ from_date_or_timestamp }} as timestamp))
{%- endmacro %}

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

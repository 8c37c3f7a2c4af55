{#-
  A mainland mobile number as its 11 digits, or null: strips +86 / 0086 / 86, spaces and dashes.
  Anything that is not then 11 digits starting with 1 is not a usable phone.
-#}
{% macro normalize_phone(column) -%}
    {%- set digits = siyu.digits_only(column) -%}
    case
        when length({{ digits }}) = 11 and {{ digits }} like '1%' then {{ digits }}
        when length({{ digits }}) = 13 and {{ digits }} like '861%' then substr({{ digits }}, 3, 11)
        when length({{ digits }}) = 15 and {{ digits }} like '00861%' then substr({{ digits }}, 5, 11)
    end
{%- endmacro %}

{% macro digits_only(column) -%}
    {{ return(adapter.dispatch('digits_only', 'siyu')(column)) }}
{%- endmacro %}

{% macro default__digits_only(column) -%}
    regexp_replace({{ column }}, '[^0-9]', '')
{%- endmacro %}

{% macro duckdb__digits_only(column) -%}
    regexp_replace({{ column }}, '[^0-9]', '', 'g')
{%- endmacro %}

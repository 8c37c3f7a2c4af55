{#-
  Date helpers for the measurement marts, built on dbt's cross-database macros so the SQL stays
  portable (a Spark target comes later).
-#}

{#- A date shifted by n calendar days, as a date (dbt.dateadd may return a timestamp). -#}
{% macro measurement_add_days(date_expr, n) -%}
    cast({{ dbt.dateadd('day', n, date_expr) }} as date)
{%- endmacro %}

{#- Whole calendar days from start_expr to end_expr. -#}
{% macro measurement_days_between(start_expr, end_expr) -%}
    {{ dbt.datediff(start_expr, end_expr, 'day') }}
{%- endmacro %}

{#- First day of the run's partition window [min_date, max_date), optionally minus a look-back. -#}
{% macro measurement_window_start(lookback_days=0) -%}
    {%- if lookback_days == 0 -%}
        cast('{{ var("min_date") }}' as date)
    {%- else -%}
        {{ measurement_add_days("cast('" ~ var("min_date") ~ "' as date)", -lookback_days) }}
    {%- endif -%}
{%- endmacro %}

{#- Exclusive end of the run's partition window. -#}
{% macro measurement_window_end() -%}
    cast('{{ var("max_date") }}' as date)
{%- endmacro %}

{#- True when the date lies in the run window [min_date - lookback_days, max_date). -#}
{% macro measurement_in_window(date_expr, lookback_days=0) -%}
    ({{ date_expr }} >= {{ measurement_window_start(lookback_days) }} and {{ date_expr }} < {{ measurement_window_end() }})
{%- endmacro %}

{#- The integers 0..n as a one-column relation (portable: no generate_series). -#}
{% macro measurement_integers(n, column_name='n') -%}
    {%- for i in range(n + 1) %}
    select {{ i }} as {{ column_name }}{% if not loop.last %} union all{% endif %}
    {%- endfor %}
{%- endmacro %}

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

{#-
  The first day an incremental daily mart (re)builds in this run: min_date, or on an incremental
  run the day after the latest day already built when that is earlier. A partition whose days had
  no activity at all built nothing for them (the date spine ended before them), so the next run
  with activity fills them in; a re-run of an older window starts at its min_date as before.
  built_date_column is the mart's date key (its unique_key).
-#}
{% macro measurement_run_start(built_date_column) -%}
    {%- if is_incremental() -%}
        least(
            {{ measurement_window_start() }},
            coalesce(
                (select {{ measurement_add_days('max(' ~ built_date_column ~ ')', 1) }} from {{ this }}),
                {{ measurement_window_start() }}
            )
        )
    {%- else -%}
        {{ measurement_window_start() }}
    {%- endif -%}
{%- endmacro %}

{#- True when the date lies in [run start - lookback_days, max_date) (see measurement_run_start). -#}
{% macro measurement_in_run(date_expr, built_date_column, lookback_days=0) -%}
    {%- set run_start = measurement_run_start(built_date_column) -%}
    {%- if lookback_days != 0 -%}
        {%- set run_start = measurement_add_days(run_start, -lookback_days) -%}
    {%- endif -%}
    ({{ date_expr }} >= {{ run_start }} and {{ date_expr }} < {{ measurement_window_end() }})
{%- endmacro %}

{#- The integers 0..n as a one-column relation (portable: no generate_series). -#}
{% macro measurement_integers(n, column_name='n') -%}
    {%- for i in range(n + 1) %}
    select {{ i }} as {{ column_name }}{% if not loop.last %} union all{% endif %}
    {%- endfor %}
{%- endmacro %}

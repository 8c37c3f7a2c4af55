{#-
  The run's window of business days [start, end), as SQL date expressions.

  The Dagster dbt step hands the window to DuckDB as data: the dbt-duckdb plugin
  (plugins/siyu_secrets.py) binds the variables siyu_window_start / siyu_window_end from the
  environment on every connection (default: every day). dbt's own vars would change the project
  configuration every run and make dbt re-parse the whole project. A hand-run
  `dbt build --vars '{"min_date": ..., "max_date": ...}'` still works and takes precedence.
-#}

{% macro run_window_start() -%}
    {%- if var('min_date', none) is not none -%}
        cast('{{ var("min_date") }}' as date)
    {%- else -%}
        cast(getvariable('siyu_window_start') as date)
    {%- endif -%}
{%- endmacro %}

{% macro run_window_end() -%}
    {%- if var('max_date', none) is not none -%}
        cast('{{ var("max_date") }}' as date)
    {%- else -%}
        cast(getvariable('siyu_window_end') as date)
    {%- endif -%}
{%- endmacro %}

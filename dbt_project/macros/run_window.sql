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
        {{ siyu.run_window_variable('siyu_window_start') }}
    {%- endif -%}
{%- endmacro %}

{% macro run_window_end() -%}
    {%- if var('max_date', none) is not none -%}
        cast('{{ var("max_date") }}' as date)
    {%- else -%}
        {{ siyu.run_window_variable('siyu_window_end') }}
    {%- endif -%}
{%- endmacro %}

{% macro run_window_variable(name) -%}
    {{ return(adapter.dispatch('run_window_variable', 'siyu')(name)) }}
{%- endmacro %}

{% macro default__run_window_variable(name) -%}
    cast(getvariable('{{ name }}') as date)
{%- endmacro %}

{#- Spark: the same environment variables the plugin reads, from the driver's environment (see
    spark__hash_salt_expression), with the plugin's defaults (every day). -#}
{% macro spark__run_window_variable(name) -%}
    {%- set env = {'siyu_window_start': ('SIYU_DBT_WINDOW_START', '1900-01-01'),
                   'siyu_window_end': ('SIYU_DBT_WINDOW_END', '2999-12-31')}[name] -%}
    cast(coalesce(nullif(trim({{ siyu.spark_env(env[0]) }}), ''), '{{ env[1] }}') as date)
{%- endmacro %}

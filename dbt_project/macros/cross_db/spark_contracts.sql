{#-
  Enforced contracts on Spark. Spark types some expressions differently from DuckDB: ntile,
  datediff and extract are int where DuckDB's are bigint, and a ratio with a decimal literal
  (1.0 * a / b) is decimal(38, 16) where DuckDB's is double. The contract check then compares
  names only, and the table's columns are cast to the contract's types, so both engines publish
  the same names and types (a decimal(38, 16) rate as double changes it by under 1e-15).
-#}
{% macro spark__get_assert_columns_equivalent(sql) -%}
    {%- set declared = model['columns'].keys() | map('lower') | list -%}
    {%- set provided = get_column_schema_from_query(sql, config.get('sql_header', none))
        | map(attribute='name') | map('lower') | list -%}
    {%- if declared | sort != provided | sort -%}
        {{ exceptions.raise_compiler_error(
            "contract of " ~ model['name'] ~ ": the model's columns " ~ provided
            ~ " are not the contract's " ~ declared) }}
    {%- endif -%}
{%- endmacro %}

{% macro spark__get_select_subquery(sql) -%}
    select
        {%- for column in model['columns'].values() %}
        cast({{ adapter.quote(column['name']) }} as {{ column['data_type'] }}) as {{ adapter.quote(column['name']) }}
        {{- ',' if not loop.last }}
        {%- endfor %}
    from (
        {{ sql }}
    ) as model_subq
{%- endmacro %}

{#-
  `name as {{ materialized_cte() }} (...)`: a common table expression computed once and kept,
  however often the query names it. DuckDB would otherwise inline a CTE named twice (the
  identity rounds name each round twice: label propagation and pointer jumping), so 12 rounds
  would run 2^12 times over and run out of memory at 200,000 members. Other engines (Spark, a
  later target) materialise or reuse such a CTE themselves: plain `as` there.
-#}
{% macro materialized_cte() -%}
    {{ return(adapter.dispatch('materialized_cte', 'siyu')()) }}
{%- endmacro %}

{% macro default__materialized_cte() -%}
{%- endmacro %}

{% macro duckdb__materialized_cte() -%}
    materialized
{%- endmacro %}

{#-
  The materialisation of a model that is incremental on DuckDB. Its strategies (delete+insert,
  replace_touched_keys) delete rows, and a Spark table without Delta or Iceberg cannot: on Spark
  the model is a table, rebuilt whole every run (the same rows as a first build on DuckDB).
  `materialized=incremental_or_table()` in the model's config; the staging folder does the same
  in dbt_project.yml.
-#}
{% macro incremental_or_table() -%}
    {{ return('table' if target.type == 'spark' else 'incremental') }}
{%- endmacro %}

{#-
  on-run-start, Spark only: the sources as tables over Parquet folders, so `source()` reads the
  same relations as on DuckDB (schemas raw and ml).

  - raw.<source>__<extract>: the raw lake (warehouse/lake.py), SIYU_LAKE_DIR (default
    <data>/lake): <lake>/raw/<source>/<extract>/day=YYYY-MM-DD/*.parquet. Declared with the
    columns of the source's meta.lake_columns (ingestion/entities.py; every one text) and the
    lineage columns, partitioned by `day`, so an extract with no day yet is an empty table
    instead of a failed schema inference. `msck repair` picks up the days landed since.
  - ml.<table>: the Python models' tables as Parquet in <lake>/ml/<table>/ (schema from the
    files; see README, "Spark", for who writes them).

  External tables: dropping one (every run, so a moved lake or a changed column is picked up)
  leaves its files alone.
-#}
{% macro register_spark_sources() -%}
    {%- if execute and target.type == 'spark' -%}
        {%- set lake = env_var('SIYU_LAKE_DIR', env_var('SIYU_DATA_DIR', '../data') ~ '/lake') | trim -%}
        {%- if lake in ('', 'off') -%}
            {{ exceptions.raise_compiler_error(
                "the Spark target reads its sources from the raw lake: set SIYU_LAKE_DIR") }}
        {%- endif -%}
        {%- for schema in ['raw', 'ml'] -%}
            {%- do run_query('create database if not exists ' ~ schema) -%}
        {%- endfor -%}
        {%- for node in graph.sources.values() if node.schema in ('raw', 'ml') -%}
            {%- set relation = node.schema ~ '.' ~ node.identifier -%}
            {%- do run_query('drop table if exists ' ~ relation) -%}
            {%- if node.schema == 'raw' -%}
                {%- set source_name, extract = node.identifier.split('__', 1) -%}
                {%- set columns = node.meta.get('lake_columns') -%}
                {%- if not columns -%}
                    {{ exceptions.raise_compiler_error(
                        "source " ~ relation ~ " has no meta.lake_columns (its raw columns)") }}
                {%- endif -%}
                {%- set ddl -%}
                    create table {{ relation }} (
                        {%- for column in columns %}
                        {{ column }} string,
                        {%- endfor %}
                        _source_file string,
                        _row_number bigint,
                        _loaded_at timestamp_ntz,
                        _partition_date date,
                        day date
                    )
                    using parquet
                    partitioned by (day)
                    location '{{ lake }}/raw/{{ source_name }}/{{ extract }}'
                {%- endset -%}
                {%- do run_query(ddl) -%}
                {%- do run_query('msck repair table ' ~ relation) -%}
            {%- else -%}
                {%- do run_query(
                    "create table " ~ relation ~ " using parquet location '"
                    ~ lake ~ "/ml/" ~ node.identifier ~ "'") -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#-
  Incremental staging: a new day costs in proportion to the rows it touches.

  A staging model keeps one row per key: the latest delivery of it (deduplicated over every raw
  row of the key). A run of the window [run_window_start(), run_window_end()) can change only the
  keys it touches: keys of raw rows landed in the window (new, late or re-delivered rows, or a
  re-loaded day) and keys whose staged row came from the window (a re-loaded day that lost rows).
  Those keys are recomputed from ALL their raw rows and replace what the table holds
  (strategy replace_touched_keys); every other key keeps its row. A first build (or
  --full-refresh) is the whole query, as a view would compute it.

  Materialisation, strategy and on_schema_change are set for the staging folder in
  dbt_project.yml; each model's yml sets its unique_key (rank_column, recompute_all_after_window
  where they apply). A model, top to bottom:

    with
    {{ staging_source(source('crm', 'crm__orders'), {'order_id': 'trim(order_id)'}) }},
    renamed as (select ... from source),
    {{ deduplicate_deliveries('renamed', order_by='_partition_date desc, ...') }}

  The touched raw rows are picked (a semi-join on the key) before `renamed`, so its casts and
  the identifier masking (regular expressions) run on the touched rows only.
-#}

{#- The `source` CTE: the raw table, or in an incremental run only the rows of touched keys.

    prefilter_keys: staged key column -> the raw expression it comes from, unmasked (a key made
    of masked free text, campaign_id, is left out: its unmasked companion, the member, narrows
    the rows, and deduplicate_deliveries keeps the touched full keys).
    recompute_all_after_window (model config, default false): a re-loaded past day can change a
    key through a row that lost the deduplication (an order's `was_paid` looks at every delivery):
    when rows landed after the window, every key is recomputed. -#}
{% macro staging_source(source_relation, prefilter_keys) -%}
    {%- set recompute_all_after_window = config.get('recompute_all_after_window', false) -%}
    {%- if is_incremental() %}
touched_prefilter_keys as (

    select
        {%- for expression in prefilter_keys.values() %}
        {{ expression }} as touched_key_{{ loop.index }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ source_relation }}
    where {{ siyu.in_run_window('_partition_date') }}
    union
    select
        {%- for column in prefilter_keys.keys() %}
        {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ this }}
    where {{ siyu.in_run_window('_partition_date') }}

),

    {% endif -%}
source as (

    select * from {{ source_relation }}
    {%- if is_incremental() %}
    where
        exists (
            select 1 from touched_prefilter_keys
            where
            {%- for expression in prefilter_keys.values() %}
                {{ 'and ' if not loop.first }}touched_prefilter_keys.touched_key_{{ loop.index }}
                is not distinct from {{ expression }}
            {%- endfor %}
        )
        {%- if recompute_all_after_window %}
        or {{ siyu.rows_after_run_window(source_relation) }}
        {%- endif %}
    {%- endif %}

)
{%- endmacro %}


{#- The shared tail of every staging model: rank the deliveries of each key, keep the first.

    relation: the renamed rows; order_by: which delivery wins, within the model's unique_key
    (config; rank_column, default delivery_rank, names the rank); extra_columns: window expressions over every delivery of the
    key (e.g. `order_was_paid() as was_paid`); final_columns / kept_if: the columns and the extra
    condition of the kept row (default all columns, every first-ranked row);
    recompute_all_after_window: the model config, as in staging_source (every key is touched).
    Emits the CTEs `deduplicated` and `final` and the model's closing select. In an incremental run
    that select returns the touched keys: each with its row, or with nulls (rank_column null) when
    no row of it is left, so the strategy deletes it. -#}
{% macro deduplicate_deliveries(
    relation,
    order_by,
    extra_columns=[],
    final_columns=['*'],
    kept_if=none
) -%}
{%- set recompute_all_after_window = config.get('recompute_all_after_window', false) -%}
{%- set unique_key = config.get('unique_key') -%}
{%- set unique_key = [unique_key] if unique_key is string else unique_key -%}
{%- set rank_column = config.get('rank_column', 'delivery_rank') -%}
deduplicated as (

    select
        *,
        row_number() over (
            partition by {{ unique_key | join(', ') }}
            order by {{ order_by }}
        ) as {{ rank_column }}
        {%- for column in extra_columns %},
        {{ column }}
        {%- endfor %}
    from {{ relation }}

),

final as (

    select
        {%- for column in final_columns %}
        {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from deduplicated
    where
        {{ rank_column }} = 1
        {%- if kept_if is not none %}
        and {{ kept_if }}
        {%- endif %}

)

{% if is_incremental() -%}
,

touched_keys as (

    select {{ unique_key | join(', ') }} from {{ relation }}
    where {{ siyu.in_run_window('_partition_date') }}
    union
    select {{ unique_key | join(', ') }} from {{ this }}
    where {{ siyu.in_run_window('_partition_date') }}
    {%- if recompute_all_after_window %}
    union
    select {{ unique_key | join(', ') }} from {{ relation }}
    where {{ siyu.rows_after_run_window(relation) }}
    union
    select {{ unique_key | join(', ') }} from {{ this }}
    where {{ siyu.rows_after_run_window(relation) }}
    {%- endif %}

),

touched_rows as (

    {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list %}
    select
        {%- for column in columns %}
        {{ 'touched_keys' if column in unique_key else 'final' }}.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from touched_keys
    left join final
        on
        {%- for column in unique_key %}
            {{ 'and ' if not loop.first }}final.{{ column }} is not distinct from touched_keys.{{ column }}
        {%- endfor %}

)

select * from touched_rows
{%- else -%}
select * from final
{%- endif %}
{%- endmacro %}


{% macro in_run_window(column) -%}
    ({{ column }} >= {{ run_window_start() }} and {{ column }} < {{ run_window_end() }})
{%- endmacro %}

{% macro rows_after_run_window(source_relation) -%}
    exists (select 1 from {{ source_relation }} where _partition_date >= {{ run_window_end() }})
{%- endmacro %}


{#- The incremental strategy of staging (config incremental_strategy='replace_touched_keys'): the
    model's select returns every touched key; delete them all (null-safe on every key column),
    insert those that still have a row: presence_column (config; default the rank_column of a
    staging model, delivery_rank) not null. -#}
{% macro get_incremental_replace_touched_keys_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set touched = arg_dict['temp_relation'] -%}
    {%- set unique_key = arg_dict['unique_key'] -%}
    {%- set unique_key = [unique_key] if unique_key is string else unique_key -%}
    {%- set presence_column = config.get('presence_column', config.get('rank_column', 'delivery_rank')) -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    delete from {{ target }} as existing
    using {{ touched }} as touched
    where
    {%- for column in unique_key %}
        {{ 'and ' if not loop.first }}existing.{{ column }} is not distinct from touched.{{ column }}
    {%- endfor %};

    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ touched }}
    where {{ presence_column }} is not null
{%- endmacro %}

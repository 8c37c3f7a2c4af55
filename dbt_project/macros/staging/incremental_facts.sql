{#-
  fct_interactions over the incremental staging tables (fct_orders keeps its own incremental
  query for now: with identifier_hash it differed from a full build on 7 rows of the
  daily-chain test, cause not found).

  A run recomputes the fact rows of
  - staging rows from the window (new, late, re-delivered or re-loaded rows), and
  - fact rows taken from the window before (a re-loaded day that lost the row, or whose row now
    comes from an earlier day);
  and re-keys, without touching staging, the fact rows whose identifier resolves to another
  person now (identity resolution merged, split or re-anchored it): every fact row carries the
  salted hash of the identifier it was keyed by (identifier_hash), compared with identity_map.
  The model's select returns every touched key, with nulls in `presence_column` when the row is
  gone; strategy replace_touched_keys (macros/staging/deduplicate_deliveries.sql) applies it.

  A table built before identifier_hash existed is rebuilt whole on its first run (every key).
-#}

{#- True when this run updates the existing fact (not a first build, not a full refresh), and
    the table already has identifier_hash. -#}
{% macro fact_is_incremental() -%}
    {%- if not is_incremental() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    {{ return('identifier_hash' in columns) }}
{%- endmacro %}

{#- identity_map with the salted hash of each identifier (`id_types`: the ones the fact keys by). -#}
{% macro hashed_identifiers(identity_map, id_types) -%}
    select
        id_type,
        id_value,
        person_id,
        {{ salted_hash(dbt.concat(['id_type', "':'", 'id_value'])) }} as identifier_hash
    from {{ identity_map }}
    where id_type in ('{{ id_types | join("', '") }}')
{%- endmacro %}

{#- The select of an incremental fact: the touched keys with their recomputed rows (or nulls),
    then the other rows whose person changed, with the new person_id.

    keyed: the recomputed rows (key, columns, identifier_hash); touched_keys: a relation of
    `key`; columns: every column of the fact in order. A fact whose presence_column is person_id
    (fct_interactions) drops a row whose identifier resolves to no person now; one whose
    person_id may be null keeps it with a null person_id, as a full build does. -#}
{% macro fact_touched_rows(keyed, touched_keys, key, columns) -%}
    select
        {%- for column in columns %}
        {{ 'touched_keys' if column == key else keyed }}.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ touched_keys }} as touched_keys
    left join {{ keyed }} on {{ keyed }}.{{ key }} = touched_keys.{{ key }}

    union all

    -- rows whose identifier resolves to another person now (identity merges, splits, anchors)
    select
        {%- for column in columns %}
        {%- if column == 'person_id' %}
        identifiers.person_id
        {%- else %}
        existing.{{ column }}
        {%- endif %} as {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ this }} as existing
    left join identifiers on identifiers.identifier_hash = existing.identifier_hash
    where
        existing.identifier_hash is not null
        and identifiers.person_id is distinct from existing.person_id
        and not exists (
            select 1 from {{ touched_keys }} as touched_keys
            where touched_keys.{{ key }} = existing.{{ key }}
        )
{%- endmacro %}

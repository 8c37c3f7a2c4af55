{#- The training sample of the point-in-time features (int_models__person_features): a person is
    in it when their bucket, a hash of person_id in 0..999, is below the sample's threshold; the
    same person is in or out at every snapshot. A dispatched macro: each engine hashes its own
    way (the sample is a deterministic subset on each, not the same subset across engines). -#}
{% macro training_sample_bucket(person_id) -%}
    {{ return(adapter.dispatch('training_sample_bucket')(person_id)) }}
{%- endmacro %}

{% macro default__training_sample_bucket(person_id) -%}
    cast(hash({{ person_id }}) % 1000 as integer)
{%- endmacro %}

{#- Spark's hash() is a signed 32-bit murmur3: pmod keeps the bucket in 0..999. -#}
{% macro spark__training_sample_bucket(person_id) -%}
    pmod(hash({{ person_id }}), 1000)
{%- endmacro %}

{#- The bucket threshold that keeps about `persons` persons of the brand's `population` (all of
    them when it is smaller). -#}
{% macro training_sample_threshold(persons, population) -%}
    least(1000, cast(ceil(1000.0 * {{ persons }} / nullif({{ population }}, 0)) as integer))
{%- endmacro %}

{#- True for a training snapshot when some training snapshot is new (a month start this run's data
    reached) or its churn window completed with this run's data (its rows in the table still say
    the window is incomplete, their label missing): every training snapshot is then recomputed,
    so a training sees every late fact and identity change loaded until then
    (int_models__person_features, incremental runs; twice a month). -#}
{% macro training_snapshots_are_due() -%}
    is_training and exists (
        select 1
        from {{ ref('int_models__feature_snapshots') }} as wanted
        where
            wanted.is_training
            and (
                wanted.snapshot_date not in (select distinct existing.snapshot_date from {{ this }} as existing)
                or (
                    wanted.has_complete_churn_window
                    and wanted.snapshot_date in (
                        select distinct stale.snapshot_date
                        from {{ this }} as stale
                        where not stale.has_complete_churn_window
                    )
                )
            )
    )
{%- endmacro %}

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

{#- First day of the run's window [min_date, max_date) (macros/run_window.sql), optionally minus
    a look-back. -#}
{% macro measurement_window_start(lookback_days=0) -%}
    {%- if lookback_days == 0 -%}
        {{ run_window_start() }}
    {%- else -%}
        {{ measurement_add_days(run_window_start(), -lookback_days) }}
    {%- endif -%}
{%- endmacro %}

{#- Exclusive end of the run's window. -#}
{% macro measurement_window_end() -%}
    {{ run_window_end() }}
{%- endmacro %}

{#- True when the date lies in the run window [min_date - lookback_days, max_date). -#}
{% macro measurement_in_window(date_expr, lookback_days=0) -%}
    ({{ date_expr }} >= {{ measurement_window_start(lookback_days) }} and {{ date_expr }} < {{ measurement_window_end() }})
{%- endmacro %}

{#-
  The first day an incremental daily mart (re)builds in this run, as a date literal. A daily run
  must leave the mart equal to a full build of the same loaded rows, so the run starts at the
  earliest of:
  - min_date, the first day of the run's window;
  - the day after the latest day already built (partitions whose days had no activity at all built
    nothing for them: the date spine ended before them);
  - the earliest day the rows loaded in this window belong to: orders and mini-program events can
    land days late in a later day's folder (datagen LATE_ENTITIES), and a day's snapshot, its
    trailing windows and the cohorts it observes all change with them;
  - the earliest day of a person whose identity changed since the marts were last built (merged
    into another, re-anchored to a new person_id, first seen earlier or through another channel):
    every day from the person's first day counts them (total users, cohorts, distinct users).
  Every day from there to max_date is rebuilt: all later days depend on the earlier ones (a
  cumulative count, a trailing window, a cohort's later days), and the span is that of the new
  data, not of the whole history. A re-run of an older window starts at its min_date as before.
  Called once per model (`set run_start = ...`): the look-up runs a query.
  built_date_column is the mart's date key (its unique_key). changed_person_date says from which
  day of a changed person the mart changes: 'first_seen_date' (default: total users, cohorts,
  distinct users count the person from the first day) or 'first_order_date' (a mart of buyers,
  user_rfm: a merge re-keys the person's orders, which change the snapshots from the first order
  of either person_id on; a person without orders changes nothing). On real data some person
  changes every day, nearly always one who never ordered or ordered recently, so the buyer marts
  then rebuild from the window instead of from the person's first day.
-#}
{% macro measurement_run_start(built_date_column, changed_person_date='first_seen_date') -%}
    {#- the model's dependencies, for the parser (the look-ups below only run at execution) -#}
    {%- set facts = [(ref('fct_orders'), 'ordered_date'), (ref('fct_interactions'), 'occurred_date')] -%}
    {%- set users = ref('dim_users') -%}
    {%- if not (execute and is_incremental()) -%}
        {{ return(measurement_window_start()) }}
    {%- endif -%}
    {%- set changed_dates = [] -%}
    {%- for relation, date_column in facts -%}
        {#- rows carry their landing day (_partition_date); facts without it have no late rows to find -#}
        {%- set columns = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
        {%- if '_partition_date' in columns -%}
            {%- do changed_dates.append(
                'select min(' ~ date_column ~ ') as changed_date from ' ~ relation
                ~ ' where ' ~ measurement_in_window('_partition_date')
            ) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do changed_dates.append(measurement_changed_person_dates(users, changed_person_date)) -%}
    {%- set query -%}
        select least(
            {{ measurement_window_start() }},
            coalesce(
                (select {{ measurement_add_days('max(' ~ built_date_column ~ ')', 1) }} from {{ this }}),
                {{ measurement_window_start() }}
            ),
            coalesce(
                (select min(changed_date) from ({{ changed_dates | join(' union all ') }}) as changed),
                {{ measurement_window_start() }}
            )
        ) as run_start
    {%- endset -%}
    {%- set run_start = run_query(query).columns[0].values()[0] -%}
    {{ return("cast('" ~ run_start ~ "' as date)") }}
{%- endmacro %}

{#-
  The persons as the measurement marts last saw them (person_id, first_seen_date, first_channel):
  int_measurement__built_persons, rebuilt after the marts, so a run whose marts failed keeps the
  older state and the next run rebuilds the days again.
-#}
{% macro measurement_built_persons() -%}
    {{ return(adapter.get_relation(database=this.database, schema='intermediate', identifier='int_measurement__built_persons')) }}
{%- endmacro %}

{#-
  One changed_date per person whose identity changed since the marts were last built: a new
  person_id (a new person, or a person re-anchored) at its first day, a person_id gone (merged
  into another, or re-anchored) at the first day it had, a person first seen on another day or
  through another channel at the earlier of the two days. Without a recorded state (a build that
  predates it) every person counts as changed, i.e. everything is rebuilt once.
  changed_person_date 'first_order_date' takes the earlier first order day of the two states
  instead (int_measurement__built_persons records it; a state recorded before it had that column
  falls back to the first seen day, which is never later).
-#}
{% macro measurement_changed_person_dates(users, changed_person_date='first_seen_date') -%}
    {%- set built = measurement_built_persons() -%}
    {%- set date_column = changed_person_date -%}
    {%- if built is not none and date_column == 'first_order_date' -%}
        {%- set built_columns = adapter.get_columns_in_relation(built) | map(attribute='name') | map('lower') | list -%}
        {%- if 'first_order_date' not in built_columns -%}
            {%- set date_column = 'first_seen_date' -%}
        {%- endif -%}
    {%- endif -%}
    {%- if built is none -%}
        select min(first_seen_date) as changed_date from {{ users }}
    {%- else -%}
        select
            case
                when built.{{ date_column }} is null then current_users.{{ date_column }}
                when current_users.{{ date_column }} is null then built.{{ date_column }}
                when built.{{ date_column }} < current_users.{{ date_column }} then built.{{ date_column }}
                else current_users.{{ date_column }}
            end as changed_date
        from (
            {%- if date_column == 'first_order_date' %}
            select
                users.person_id,
                users.first_seen_date,
                users.first_channel,
                first_orders.first_order_date
            from {{ users }} as users
            left join ({{ measurement_first_order_dates() }}) as first_orders
                on first_orders.person_id = users.person_id
            {%- else %}
            select * from {{ users }}
            {%- endif %}
        ) as current_users
        full outer join {{ built }} as built
            on built.person_id = current_users.person_id
        where
            built.person_id is null
            or current_users.person_id is null
            or built.first_seen_date <> current_users.first_seen_date
            or built.first_channel <> current_users.first_channel
            or (built.first_channel is null) <> (current_users.first_channel is null)
    {%- endif -%}
{%- endmacro %}

{#- person_id, first_order_date: each person's first order day, any status (a refunded order too:
    the earlier day is the safe one), from fct_orders. -#}
{% macro measurement_first_order_dates() -%}
    select
        person_id,
        min(ordered_date) as first_order_date
    from {{ ref('fct_orders') }}
    where person_id is not null
    group by person_id
{%- endmacro %}

{#- True when the date lies in [run_start - lookback_days, max_date), run_start from measurement_run_start. -#}
{% macro measurement_in_run(date_expr, run_start, lookback_days=0) -%}
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

{#-
  The cockpit's rules (plan 3.4, 8.1), one definition for every mart that judges a measure against
  its kpi_targets row: kpi_daily (the brand's KPIs) and engagement_by_layer (the interaction rate
  per user layer). The alarms of reporting/monitors.py read the same seed rows.
-#}

{#- Days of the trailing level a value is compared with (the days before, the day excluded). -#}
{% macro kpi_trailing_days() -%}
    28
{%- endmacro %}

{#- The value is on the target's good side (direction higher_is_better or lower_is_better), with a
    1e-9 tolerance for float noise: kpi_daily's green. -#}
{% macro kpi_meets_target(value, target, direction) -%}
    (
        ({{ direction }} = 'higher_is_better' and {{ value }} >= {{ target }} - 1e-9)
        or ({{ direction }} = 'lower_is_better' and {{ value }} <= {{ target }} + 1e-9)
    )
{%- endmacro %}

{#- Relative move of the value from its trailing level (null without a level or at level 0). -#}
{% macro kpi_change_pct(value, trailing) -%}
    {#- a double, as DuckDB divides decimals (Spark would keep a decimal rounded to 6 places) -#}
    cast({{ value }} - {{ trailing }} as double) / nullif({{ trailing }}, 0)
{%- endmacro %}

{#- The plan's anomaly (3.4: +-15%): the move exceeds the threshold; false without a move. -#}
{% macro kpi_is_anomaly(value, trailing, threshold) -%}
    coalesce(abs({{ kpi_change_pct(value, trailing) }}) > {{ threshold }}, false)
{%- endmacro %}

{#-
  One row per date and key of `grid` (a CTE with columns date, the key columns and value): the
  mean of the key's non-null values on the kpi_trailing_days() days before the date (trailing_28d).
  A date without any earlier value has no row.
-#}
{% macro kpi_trailing_levels(grid, key_columns) -%}
    select
        {{ grid }}.date,
        {%- for key in key_columns %}
        {{ grid }}.{{ key }},
        {%- endfor %}
        -- an exact decimal sum: a floating-point sum depends on the order the rows arrive in,
        -- so the same day built twice could differ in the last bits (a rerun after a crash)
        cast(
            sum(cast(previous.value as decimal(38, 18))) / nullif(count(previous.value), 0) as double
        ) as trailing_28d
    from {{ grid }}
    inner join {{ grid }} as previous
        on
            {%- for key in key_columns %}
            previous.{{ key }} = {{ grid }}.{{ key }} and
            {%- endfor %}
            previous.date < {{ grid }}.date
            and previous.date >= {{ measurement_add_days(grid ~ '.date', '-' ~ kpi_trailing_days()) }}
    group by {{ grid }}.date{% for key in key_columns %}, {{ grid }}.{{ key }}{% endfor %}
{%- endmacro %}

{#-
  The 30-day repurchase rule, one definition for every measurement mart (retention_summary,
  interaction_retention, kpi_daily): a first-time buyer repurchased when the second purchase day
  falls within var repurchase_window_days (30) of the first; a buyer counts only once that window
  has closed. Purchase days are distinct dates (int_measurement__buyers).
-#}

{#- The last day of the repurchase window of a first purchase on `first_purchase_date`. -#}
{% macro repurchase_window_end(first_purchase_date) -%}
    {{ measurement_add_days(first_purchase_date, var('repurchase_window_days')) }}
{%- endmacro %}

{#- The buyer's second purchase day is inside the window. -#}
{% macro is_repurchased_in_window(first_purchase_date, second_purchase_date) -%}
    {{ second_purchase_date }} <= {{ repurchase_window_end(first_purchase_date) }}
{%- endmacro %}

{#- The window of a first purchase has closed by `as_of_date` (inclusive). -#}
{% macro is_repurchase_window_closed(first_purchase_date, as_of_date) -%}
    {{ repurchase_window_end(first_purchase_date) }} <= {{ as_of_date }}
{%- endmacro %}

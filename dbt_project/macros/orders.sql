{#-
  The order-status rule, one definition for every source's order staging: a cancelled or pending
  order is no order (never revenue) unless some delivery of it said it was paid; then it stays,
  refunded, so the incremental fct_orders replaces the paid row it holds.
-#}
{% macro order_was_paid(status_column='order_status', key_column='order_id') -%}
    max(case when {{ status_column }} in ('completed', 'refunded') then 1 else 0 end)
        over (partition by {{ key_column }}) = 1
{%- endmacro %}

{% macro order_is_kept(status_column='order_status', was_paid_column='was_paid') -%}
    not (coalesce({{ status_column }}, '') in ('cancelled', 'pending') and not {{ was_paid_column }})
{%- endmacro %}

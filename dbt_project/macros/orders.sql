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

{#- The staging tail of every source's orders: the latest delivery of each order wins, with
    was_paid over all its deliveries and the order-status rule above applied to the kept row.
    source_columns: the columns only this source has (ids, dimensions), in output order after
    order_id; the status, measures, time and lineage columns are the same for every source. -#}
{% macro deduplicate_orders(relation, source_columns) -%}
{{ siyu.deduplicate_deliveries(
    relation,
    order_by='_partition_date desc, _loaded_at desc, _row_number desc',
    extra_columns=[siyu.order_was_paid() ~ ' as was_paid'],
    final_columns=['order_id'] + source_columns + [
        'is_coupon_used',
        'order_status',
        "order_status <> 'completed' as is_refunded",
        'amount_cny',
        'discount_cny',
        'ordered_at',
        '_partition_date',
        '_loaded_at',
        '_row_number',
        'delivery_rank',
    ],
    kept_if=siyu.order_is_kept()
) }}
{%- endmacro %}

{#-
  The body of a label-propagation round's pointer jump (models/intermediate/identity/
  int_identity__components.sql): each node adopts the label of its label when smaller,
  least(label(n), label(label(n))), over `propagated` (node_key, label_key).

  DuckDB: a self-join of the round, which materialized_cte() computes once.
  Spark inlines every deterministic CTE where it is named, and no hint keeps one: a self-join per
  round doubles the plan each round (2^12 copies of the first round; the driver runs out of
  memory planning it). There the round is named once: every row is written twice, under its own
  node (role self) and under its label (role child), and a window over each group hands the
  group's own label to its children. Same rows; the plan grows linearly with the rounds.
-#}
{% macro pointer_jump(propagated) -%}
    {{ return(adapter.dispatch('pointer_jump', 'siyu')(propagated)) }}
{%- endmacro %}

{% macro default__pointer_jump(propagated) -%}
    select
        {{ propagated }}.node_key,
        least({{ propagated }}.label_key, coalesce(root.label_key, {{ propagated }}.label_key)) as label_key
    from {{ propagated }}
    left join {{ propagated }} as root on root.node_key = {{ propagated }}.label_key
{%- endmacro %}

{% macro spark__pointer_jump(propagated) -%}
    select
        node_key,
        least(label_key, coalesce(root_label_key, label_key)) as label_key
    from (
        select
            node_key,
            label_key,
            is_child,
            max(case when not is_child then label_key end)
                over (partition by case when is_child then label_key else node_key end)
                as root_label_key
        from {{ propagated }}
        cross join (select false as is_child union all select true as is_child) as roles
    ) as grouped
    where is_child
{%- endmacro %}

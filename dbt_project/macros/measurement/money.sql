{#-
  Money in CNY: DECIMAL(18,2), exact to the cent. Sums and rankings of doubles depend on the order
  the rows are added in (0.1 + 0.2 + 0.3 is not 0.3 + 0.2 + 0.1), so two identical runs could score
  a buyer differently; a decimal adds up the same way every time. A double that holds a cent
  amount (fen / 100) rounds to exactly that cent.
-#}
{% macro money_cny(expr) -%}
    cast(round({{ expr }}, 2) as {{ money_cny_type() }})
{%- endmacro %}

{#- The money type itself, for sums that must stay decimal (sum(decimal(18,2)) widens the precision). -#}
{% macro money_cny_type() -%}
    decimal(18, 2)
{%- endmacro %}

{#- A non-negative CNY amount shared out over a positive count, to the cent, halves up, computed
    on whole cents (a decimal over an integer is a double in DuckDB, and a double does not hold
    0.075 exactly). Null when the count is null or 0. -#}
{% macro money_cny_per(amount_cny, count) -%}
    cast(
        cast(
            floor(
                (2 * cast(round(({{ amount_cny }}) * 100) as {{ dbt.type_bigint() }}) + ({{ count }}))
                / (2 * nullif({{ count }}, 0))
            ) as {{ dbt.type_bigint() }}
        ) * 0.01 as {{ money_cny_type() }}
    )
{%- endmacro %}

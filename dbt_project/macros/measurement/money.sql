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

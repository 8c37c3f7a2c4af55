{#-
  Money in CNY: DECIMAL(18,2), exact to the cent. Sums and rankings of doubles depend on the order
  the rows are added in (0.1 + 0.2 + 0.3 is not 0.3 + 0.2 + 0.1), so two identical runs could score
  a buyer differently; a decimal adds up the same way every time. A double that holds a cent
  amount (fen / 100) rounds to exactly that cent.
-#}
{% macro money_cny(expr) -%}
    {{ return(adapter.dispatch('money_cny', 'siyu')(expr)) }}
{%- endmacro %}

{% macro default__money_cny(expr) -%}
    cast(round({{ expr }}, 2) as {{ money_cny_type() }})
{%- endmacro %}

{#- Spark rounds a double through its shortest decimal text: 94.205 (188.41 / 2, stored as
    94.20499999...) becomes 94.21. DuckDB rounds the stored binary value: 94.20. Spark is given
    DuckDB's rule: cents = x * 100 rounded half away from zero, and where that product is exactly
    a half (9420.5) its rounding error (Dekker's exact product: x split into 26-bit halves) says
    on which side the stored value lies. A decimal rounds exactly either way (its error is 0).
    Equal to DuckDB's round(x, 2) on 450,000 doubles and half cents, negatives included. -#}
{% macro spark__money_cny(expr) -%}
    {%- set x = '(' ~ expr ~ ')' -%}
    {%- set cents = '(' ~ x ~ ' * 100)' -%}
    {%- set split = '(' ~ x ~ ' * 134217729)' -%}
    {%- set high = '(' ~ split ~ ' - (' ~ split ~ ' - ' ~ x ~ '))' -%}
    {%- set error = '((' ~ high ~ ' * 100 - ' ~ cents ~ ') + (' ~ x ~ ' - ' ~ high ~ ') * 100)' -%}
    cast(
        case
            when {{ cents }} - floor({{ cents }}) = 0.5
                then case
                    when {{ error }} < 0 then floor({{ cents }})
                    when {{ error }} > 0 then ceil({{ cents }})
                    when {{ cents }} > 0 then ceil({{ cents }})
                    else floor({{ cents }})
                end
            else round({{ cents }})
        end / 100 as {{ money_cny_type() }}
    )
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

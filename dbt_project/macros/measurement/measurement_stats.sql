{#-
  Statistics for experiment_results, isolated here so an engine with a native normal CDF can
  override them (adapter.dispatch). The default is plain arithmetic that runs on every engine.
-#}

{#- Two-sided 95% normal quantile, z_{0.975}. -#}
{% macro measurement_z_975() -%}
    1.959963984540054
{%- endmacro %}

{#-
  Two-sided p-value 2 * (1 - Phi(|z|)) of a standard normal statistic z.
  Since 2 * (1 - Phi(|z|)) = erfc(|z| / sqrt(2)), the default uses the Abramowitz & Stegun 7.1.26
  approximation of erfc(x) = t * (a1 + t * (a2 + t * (a3 + t * (a4 + t * a5)))) * exp(-x^2),
  t = 1 / (1 + 0.3275911 x), whose absolute error is below 1.5e-7.
-#}
{% macro measurement_two_sided_p_value(z_expr) -%}
    {{ return(adapter.dispatch('measurement_two_sided_p_value', 'siyu')(z_expr)) }}
{%- endmacro %}

{% macro default__measurement_two_sided_p_value(z_expr) -%}
    {%- set x = '(abs(' ~ z_expr ~ ') / sqrt(2.0))' -%}
    {%- set t = '(1.0 / (1.0 + 0.3275911 * ' ~ x ~ '))' -%}
    (
        {{ t }} * (0.254829592 + {{ t }} * (-0.284496736 + {{ t }} * (1.421413741
            + {{ t }} * (-1.453152027 + {{ t }} * 1.061405429))))
        * exp(-1.0 * {{ x }} * {{ x }})
    )
{%- endmacro %}

{#-
  Salted hash of a raw identifier: published tables carry these instead of phones, unionids,
  openids or external_userids. The salt is data, never SQL text: the profile's plugin
  (plugins/siyu_secrets.py) binds SIYU_HASH_SALT to a connection variable, so it is in no compiled
  model, log or command line, and no character of it can change the SQL.
-#}
{% macro salted_hash(column) -%}
    {{ dbt.hash(dbt.concat([siyu.hash_salt_expression(), "'|'", column])) }}
{%- endmacro %}

{% macro hash_salt_expression() -%}
    {{ return(adapter.dispatch('hash_salt_expression', 'siyu')()) }}
{%- endmacro %}

{% macro duckdb__hash_salt_expression() -%}
    getvariable('siyu_hash_salt')
{%- endmacro %}

{#- Spark: the JVM of dbt-spark's session inherits the dbt process's environment, and reflect()
    reads SIYU_HASH_SALT from it when the query runs; the SQL names the variable, never its value.
    Not a Spark conf: a new session's confs go to spark-submit on its command line. Unset or empty
    is the development salt, as in plugins/siyu_secrets.py (assert_hash_salt_bound refuses it
    outside development). -#}
{% macro spark__hash_salt_expression() -%}
    coalesce(nullif({{ siyu.spark_env('SIYU_HASH_SALT') }}, ''), 'siyu-dev-salt-change-me')
{%- endmacro %}

{#- An environment variable of the Spark driver, read when the query runs (null when unset). -#}
{% macro spark_env(name) -%}
    reflect('java.lang.System', 'getenv', '{{ name }}')
{%- endmacro %}

{#- on-run-start: a profile without the plugin would hash with a null salt; stop before any model. -#}
{% macro assert_hash_salt_bound() -%}
    {% if execute and target.type == 'spark' %}
        {#- the rule of plugins/siyu_secrets.py, asked of Spark: the salt stays in the JVM's
            environment, out of dbt's Jinja context, logs and artefacts -#}
        {% set environment = env_var('SIYU_ENVIRONMENT', 'development') | trim | lower %}
        {% set is_dev_salt = run_query(
            "select " ~ siyu.spark__hash_salt_expression() ~ " = 'siyu-dev-salt-change-me'"
        ).columns[0].values()[0] %}
        {% if environment != 'development' and is_dev_salt %}
            {{ exceptions.raise_compiler_error(
                "SIYU_ENVIRONMENT=" ~ environment ~ " but SIYU_HASH_SALT is unset or the development "
                "salt: set SIYU_HASH_SALT to the brand's secret salt (every person_id depends on it)") }}
        {% endif %}
    {% endif %}
    {% if execute and target.type == 'duckdb' %}
        {% set bound = run_query("select getvariable('siyu_hash_salt') is not null").columns[0].values()[0] %}
        {% if not bound %}
            {{ exceptions.raise_compiler_error(
                "the hash salt is not bound: profiles.yml must load the siyu_secrets plugin "
                "(see dbt_project/profiles.yml), which reads SIYU_HASH_SALT from the environment") }}
        {% endif %}
    {% endif %}
{%- endmacro %}

{#- SIYU_IDENTITY_JUNK_MAX_ACCOUNTS (var identity_junk_max_accounts) as a positive integer, or stop. -#}
{% macro junk_max_accounts() -%}
    {%- set raw = var('identity_junk_max_accounts') | string | trim -%}
    {%- if not raw.isdigit() or raw | int < 1 -%}
        {{ exceptions.raise_compiler_error(
            "SIYU_IDENTITY_JUNK_MAX_ACCOUNTS must be a whole number of at least 1, got '" ~ raw ~ "'") }}
    {%- endif -%}
    {{ raw | int }}
{%- endmacro %}

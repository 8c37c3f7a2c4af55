{#-
  Salted hash of a raw identifier: published tables carry these instead of phones, unionids,
  openids or external_userids. The salt comes from SIYU_HASH_SALT through the hash_salt var.
-#}
{% macro salted_hash(column) -%}
    {{ dbt.hash(dbt.concat(["'" ~ var('hash_salt') ~ "'", "'|'", column])) }}
{%- endmacro %}

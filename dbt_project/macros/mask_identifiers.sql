{#-
  A free-text value with every raw identifier typed into it replaced by '[redacted]'; anything
  else in the value is returned unchanged (null stays null). Staff type phones, openids and
  external_userids into free-text fields (a city, a campaign id, a store name); published marts
  must never show them. Apply it in staging to free-text columns only: identifier columns
  (member_id, phone, openid, ...) stay raw there for identity resolution and are hashed later.

  What counts as an identifier (datagen/FORMATS.md, datagen/ids.py):
  - a mainland mobile in any of its export formats, 13800138000, +86 138-0013-8000,
    0086 13800138000, 138 0013 8000, 8613800138000, with no digit right before or after it
    (13 or 14 digits in a row are no phone);
  - an 18-digit PRC ID card number (birth date 19xx/20xx inside, last character a digit or X);
  - an email address;
  - a WeChat openid / unionid: 'o' and 27 url-safe characters (28 in all), and a WeCom
    external_userid: 'wm' or 'wo' and 30 url-safe characters (32 in all), each a whole url-safe
    run (not part of a longer one) holding at least one capital, digit or '-': a lower-case
    snake_case name of the same length (official_account_welcome_msg) is no identifier.

  RE2 (DuckDB's regex engine) has no look-around, so the boundary characters are captured and
  written back; a boundary character consumed by one match cannot start the next, so the digit and
  id patterns run twice (13800138000,13900139000: the first pass masks every other one).
-#}
{% macro mask_identifiers(column) -%}
    {%- set keep_boundaries -%}'\1[redacted]\2'{%- endset -%}
    {%- set emails_masked = siyu.regexp_replace_all(column, siyu.email_pattern(), "'[redacted]'") -%}
    {%- set digits_masked = siyu.regexp_replace_all(
        siyu.regexp_replace_all(emails_masked, siyu.digit_identifier_pattern(), keep_boundaries),
        siyu.digit_identifier_pattern(), keep_boundaries) -%}
    {%- set accounts_masked = siyu.regexp_replace_all(
        siyu.regexp_replace_all(digits_masked, siyu.account_id_pattern(), keep_boundaries),
        siyu.account_id_pattern(), keep_boundaries) -%}
    {#- Most values hold no candidate at all: one scan decides, instead of five replaces. -#}
    case
        when {{ siyu.regexp_contains(column, siyu.identifier_candidate_pattern()) }}
            then {{ accounts_masked }}
        else {{ column }}
    end
{%- endmacro %}

{#- The patterns, as SQL string literals (no quote or backslash inside; groups other than the two
    boundaries are non-capturing, so the replacement's \1 and \2 are the boundaries). -#}

{% macro email_pattern() -%}
    '[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:[.][A-Za-z0-9-]+)*[.][A-Za-z]{2,}'
{%- endmacro %}

{% macro digit_identifier_pattern() -%}
    {%- set mobile = '(?:(?:[+]|00)?86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]{4}){2}' -%}
    {%- set id_card = '[1-9][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]' -%}
    '(^|[^0-9])(?:{{ mobile }}|{{ id_card }})($|[^0-9])'
{%- endmacro %}

{% macro account_id_pattern() -%}
    {%- set url_safe = '0-9A-Za-z_-' -%}
    '(^|[^{{ url_safe }}])(?:{{ siyu.mixed_run('o', 27) }}|{{ siyu.mixed_run('w[mo]', 30) }})($|[^{{ url_safe }}])'
{%- endmacro %}

{#- `prefix` and exactly `length` url-safe characters, at least one of them a capital, digit or
    '-': one branch per position of the first such character (RE2 cannot count and look ahead). -#}
{% macro mixed_run(prefix, length) -%}
    {%- set branches = [] -%}
    {%- for lower in range(length) -%}
        {%- do branches.append(
            '[a-z_]{' ~ lower ~ '}[A-Z0-9-][0-9A-Za-z_-]{' ~ (length - 1 - lower) ~ '}') -%}
    {%- endfor -%}
    {{ prefix }}(?:{{ branches | join('|') }})
{%- endmacro %}

{#- Every value an identifier pattern can match also matches this (a superset, never narrower):
    an email's @, a mobile's first 7 digits, 17 digits of an ID card, a 28-character url-safe run.
    Ordinary values (cmp_000123, store_0012, 上海) fail it and skip the replaces, which cost a few
    microseconds a value. -#}
{% macro identifier_candidate_pattern() -%}
    '@|1[3-9][0-9][ -]?[0-9]{4}|[0-9]{17}|[0-9A-Za-z_-]{28}'
{%- endmacro %}

{% macro regexp_replace_all(expression, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all', 'siyu')(expression, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, {{ pattern }}, {{ replacement }})
{%- endmacro %}

{% macro duckdb__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, {{ pattern }}, {{ replacement }}, 'g')
{%- endmacro %}

{% macro regexp_contains(expression, pattern) -%}
    {{ return(adapter.dispatch('regexp_contains', 'siyu')(expression, pattern)) }}
{%- endmacro %}

{% macro default__regexp_contains(expression, pattern) -%}
    regexp_like({{ expression }}, {{ pattern }})
{%- endmacro %}

{% macro duckdb__regexp_contains(expression, pattern) -%}
    regexp_matches({{ expression }}, {{ pattern }})
{%- endmacro %}

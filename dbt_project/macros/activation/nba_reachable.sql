{#-
  Whether a person (columns has_wecom, has_miniprogram, has_phone) can be reached on the channel
  named by `channel_column`: WeCom 1:1 and groups need a WeCom external contact, the mini-program
  an openid (subscription message), SMS a phone that identifies the person.
-#}
{% macro nba_reachable(channel_column) -%}
    coalesce(case {{ channel_column }}
        when 'wecom_1v1' then has_wecom
        when 'wecom_group' then has_wecom
        when 'miniprogram' then has_miniprogram
        when 'sms' then has_phone
    end, false)
{%- endmacro %}

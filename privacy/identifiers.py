"""Which raw columns carry a personal identifier, and of which type.

Privacy owns this mapping (suppression and erasure decide from it what a person's data is); the
loader imports it to drop erased persons' rows on load, so the dependency runs one way, from the
loader to privacy, and privacy imports nothing of the loading code.
"""

from __future__ import annotations

# Columns of each raw table that carry a personal identifier, and the identifier type of their
# values (identity_map's id_type). `*_list` columns hold several values ('|'-joined or a JSON
# list). Keys are the raw tables, `<source>__<extract>`.
IDENTIFIER_COLUMNS: dict[str, dict[str, str]] = {
    "crm__members": {"member_id": "member_id", "phone": "phone"},
    "crm__orders": {"member_id": "member_id"},
    "crm__points": {"member_id": "member_id"},
    "crm__feedback": {"member_id": "member_id"},
    "crm__sms_sends": {"member_id": "member_id"},
    "wecom__external_contacts": {
        "external_userid": "external_userid",
        "unionid": "unionid",
        "remark_mobiles": "phone_list",
    },
    "wecom__group_members": {"member_userid": "external_userid", "unionid": "unionid"},
    "wecom__messages": {"from_userid": "external_userid", "tolist": "external_userid_list"},
    "wecom__campaign_sends": {"external_userid": "external_userid"},
    "miniprogram__users": {"openid": "openid", "unionid": "unionid", "phone_number": "phone"},
    "miniprogram__events": {"openid": "openid"},
    "miniprogram__orders": {"openid": "openid"},
}

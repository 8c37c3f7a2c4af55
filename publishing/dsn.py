"""Keep the password of a PostgreSQL DSN (``SIYU_PG_DSN``) out of messages and log records.

libpq quotes parts of a connection string back in some errors (``invalid percent-encoded token:
"<password>"`` for a password with a bare ``%``; the part after an unencoded ``@`` as a host
name), so every text that may carry one goes through ``mask_secrets`` before it is raised, printed
or logged. Both DSN forms are understood: ``postgresql://user:password@host/db?password=...`` and
``host=... password='...'``.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["MASK", "mask_secrets", "redact_dsn"]

MASK = "***"

_URI_SCHEME = re.compile(r"^postgres(?:ql)?://", re.IGNORECASE)
_QUERY_PASSWORD = re.compile(r"([?&]password=)([^&#]*)", re.IGNORECASE)
_KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s']+)", re.IGNORECASE)
# characters that end a password early when left unencoded in a URI: libpq then shows the rest
_URI_BREAKS = re.compile(r"[@/?#:]")


def _uri_password(dsn: str) -> str | None:
    """The password of ``scheme://user:password@...``: up to the last ``@`` (a password with an
    unencoded ``@`` is cut there by libpq, but the whole of it is still secret)."""
    rest = _URI_SCHEME.sub("", dsn, count=1)
    userinfo = rest[: rest.rfind("@")] if "@" in rest else ""
    return userinfo.split(":", 1)[1] if ":" in userinfo else None


def _secrets(dsn: str) -> list[str]:
    """Every form in which the DSN's password can show up in a message, longest first."""
    found: set[str] = set()
    raw: list[str] = []
    if _URI_SCHEME.match(dsn):
        password = _uri_password(dsn)
        if password:
            raw.append(password)
        raw += [m.group(2) for m in _QUERY_PASSWORD.finditer(dsn)]
    else:
        for match in _KEYWORD_PASSWORD.finditer(dsn):
            value = match.group(2)
            raw.append(value)
            if value.startswith("'"):
                raw.append(re.sub(r"\\(.)", r"\1", value[1:-1]))
    for value in raw:
        found.update(v for v in (value, unquote(value)) if v)
        found.update(part for part in _URI_BREAKS.split(value) if len(part) >= 2)
    return sorted(found, key=len, reverse=True)


def redact_dsn(dsn: str) -> str:
    """The DSN with its password replaced by ``***`` (``postgresql://bi:***@db:5432/siyu``)."""
    redacted = dsn
    if _URI_SCHEME.match(dsn):
        password = _uri_password(dsn)
        if password:
            scheme = _URI_SCHEME.match(dsn).group(0)
            rest = dsn[len(scheme) :]
            user = rest[: rest.index(":")]
            redacted = f"{scheme}{user}:{MASK}{rest[rest.rfind('@') :]}"
        redacted = _QUERY_PASSWORD.sub(lambda m: m.group(1) + MASK, redacted)
    else:
        redacted = _KEYWORD_PASSWORD.sub(lambda m: m.group(1) + MASK, redacted)
    return redacted


def mask_secrets(text: str, dsn: str | None) -> str:
    """``text`` with the DSN shown redacted and its password, in any form, replaced by ``***``."""
    if not dsn or not text:
        return text
    masked = text.replace(dsn, redact_dsn(dsn))
    for secret in _secrets(dsn):
        masked = masked.replace(secret, MASK)
    return masked

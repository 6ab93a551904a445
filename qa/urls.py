"""Store locations given as URLs: which schemes are a PostgreSQL store, and how a URL's password is kept out
of every message and log line. Configuration checks these (qa.settings) before any store is opened."""

from __future__ import annotations

import re
from urllib.parse import unquote

from .errors import InputError

# The PostgreSQL URL schemes libpq reads (lower case only, as libpq does).
DATABASE_SCHEMES = ("postgresql://", "postgres://")
# A password in a URL's user information: everything from the first ':' after the user name to the last
# '@' (a password may hold '@', '/' or '#' when it is not percent-encoded; redacting more is harmless).
_USERINFO_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:@/?#]*:)(?P<password>.*)@", re.DOTALL)
# A password given as a parameter (URL query or key=value connection string), quoted or not.
_PARAMETER_PASSWORD = re.compile(r"(?i)(?P<head>\b(?:ssl)?password\s*=\s*)(?P<password>'(?:[^'\\]|\\.)*'?|[^&\s#]*)")


def is_database_url(location: str | None) -> bool:
    return bool(location) and location.startswith(DATABASE_SCHEMES)


def check_store(location: str | None) -> None:
    """InputError unless the store is absent (the index folder) or a postgresql:// URL: a mistyped URL
    (`postgresq://`, `mysql://`, SQLAlchemy's `postgresql+psycopg://`) must not fall back to the index folder."""
    if not location or is_database_url(location):
        return
    scheme = location.split("://", 1)[0] if "://" in location else None
    if scheme is None:
        hint = " (it is not a URL)"
    elif scheme.lower() in ("postgresql", "postgres"):
        hint = " (write the scheme in lower case)"
    elif scheme.lower().startswith(("postgresql+", "postgres+")):
        hint = f" (SQLAlchemy's driver suffix +{scheme.split('+', 1)[1]} is not part of a PostgreSQL URL)"
    else:
        hint = f" ({scheme}:// is not a store qa knows)"
    raise InputError(f"--store (or $QA_STORE) must be a postgresql://… URL, not {redact(location)[:200]!r}{hint}; "
                     "leave it out to use the index folder (--index)")


def redact(url: str) -> str:
    """The connection URL (or string) with every password replaced by ***, whatever its shape: one that
    `urllib` cannot parse, a password holding '@' or '/', or one given as a `password=` parameter."""
    url = _USERINFO_PASSWORD.sub(lambda m: m.group("head") + "***@", url, count=1)
    return _PARAMETER_PASSWORD.sub(lambda m: m.group("head") + "***", url)


def passwords_in(url: str | None) -> list[str]:
    """The passwords a connection URL holds, as written and percent-decoded (to scrub them from driver messages)."""
    if not url:
        return []
    found = []
    m = _USERINFO_PASSWORD.match(url)
    if m:
        found.append(m.group("password"))
    found += [m.group("password").strip("'") for m in _PARAMETER_PASSWORD.finditer(url)]
    found += [unquote(secret) for secret in found]
    return sorted({secret for secret in found if secret}, key=len, reverse=True)


def scrub(text: str, url: str | None) -> str:
    """A driver's message with the connection URL redacted and any password it repeats removed."""
    if not url:
        return text
    text = text.replace(url, redact(url))
    for secret in passwords_in(url):
        if secret in text:
            if len(secret) < 4:  # replacing so short a string would garble the message: drop it instead
                return "details withheld (they would show the password)"
            text = text.replace(secret, "***")
    return text

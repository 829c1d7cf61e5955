"""Credentials inside URLs (`https://user:pass@host`, `s3://KEY:SECRET@bucket`, `?token=...`): found, masked, split
off.

The userinfo of a URL is a secret from the moment it is read (invariant 6): ui registers it, every
output shows `***` in its place, and HTTP clients and Helm get the credentials separately, never
inside a URL they might print or log.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import unquote

MASK = "***"
# The userinfo runs from :// to the LAST @ before whitespace or the next ://: a careless password may
# hold unencoded / ? # @, and masking a little too much is the safe side. (Starting at the literal ://
# keeps this fast on megabytes of output.)
_USERINFO = re.compile(r"://((?:(?!://)\S)*)@")
_ONE_SLASH = re.compile(r"(?i)\b(?:https?|s3|oci):/(?!/)((?:(?!://)\S)*)@")  # a typo, https:/user:pass@host: the same
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
# A scheme (at a word's start, at most 32 characters: linear on a megabyte of one word) and what follows, one slash
# (a typo) too
_URL = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]{0,31}):(?://|/(?!/))(\S*)")
# A query parameter (or a fragment's: #access_token=) named as a credential and its value: a presigned or tokened URL,
# a JDBC URL's password; anywhere in text, so a URL without a scheme (an index entry's) too. Masked generously where
# printed (?sort_key=name too); registered as a secret (so masked everywhere) only under a name that is nothing else,
# and only from 8 characters: `?auth=true` registering "true" would mask every true.
_QUERY = re.compile(r"(?i)([?&;#][a-z0-9_.-]*?(?:token|password|passwd|pwd|secret|sig|signature|credential|"
                    r"api[-_]?key|key|auth)=)([^&;#\s\"'<>]+)")
_SECRET_PARAMETER = re.compile(r"(?i)[a-z0-9_.-]*(?:token|password|passwd|secret|signature|credential|api[-_]?key)=")
_HOST = re.compile(r"(?:(?:[A-Za-z0-9-]+\.)+[A-Za-z][A-Za-z0-9-]*|(?:\d{1,3}\.){3}\d{1,3}|localhost|\[[0-9A-Fa-f:.]+\])"
                   r"(?=[/:?#]|$)")  # a host name with a top-level domain, an address, localhost: no path's @x


def redact(text: str) -> str:
    """`text` (a URL, or any text holding URLs) with each URL's userinfo, and each credential in a query, replaced by
    ***."""
    text = _USERINFO.sub(f"://{MASK}@", text)
    text = _QUERY.sub(lambda m: f"{m.group(1)}{MASK}", text) if "=" in text else text
    return _ONE_SLASH.sub(lambda m: f"{m.group()[:m.start(1) - m.start()]}{MASK}@", text) if ":/" in text else text


def credentials_in(value: str) -> list[str]:
    """The userinfo of each URL in `value` that is a credential, read as a URL parser reads one, where redact masks
    generously: a password (USER:PASSWORD), or over http(s) or oci a user name alone (a token); `ssh://git@host`
    names none. A userinfo runs to the first @, or, when a / comes before it (a password typed with one), to the first
    @ followed by a host name (a dotted one with a top-level domain, an address, localhost): an @ in a path (npm's
    /@scope/pkg, /vue@3.4.0) is none. And a credential in a query (`?token=`, `&password=`: _QUERY)."""
    found = _query_secrets(value)
    for match in _URL.finditer(value) if ":/" in value else ():
        scheme, rest = match.group(1).lower(), match.group(2)
        at = rest.find("@")
        while at != -1:  # nothing sliced but a userinfo found: linear in the text
            if rest.find("/", 0, at) == -1 or _HOST.match(rest, at + 1):
                if at and (rest.find(":", 0, at) != -1 or scheme in ("http", "https", "oci")):
                    found.append(rest[:at])
                break
            at = rest.find("@", at + 1)
    return found


def _query_secrets(value: str) -> list[str]:
    """The values of query parameters that are credentials by their name alone, 8 characters or more."""
    return [match.group(2) for match in _QUERY.finditer(value) if len(match.group(2)) >= 8
            and _SECRET_PARAMETER.fullmatch(match.group(1)[1:])] if "=" in value else []


def redact_value(value: str) -> str:
    """One value as read (a variable, a setting) with each userinfo masked, one typed with a blank too (_userinfos),
    which redact, reading any text, cannot tell from the words around a URL."""
    for userinfo in _userinfos(value):
        value = value.replace(f"://{userinfo}@", f"://{MASK}@")
    return redact(value)


def credentials(value: str) -> list[str]:
    """Every userinfo in `value` (one value as read: an argument, a variable, a setting), and its password, as
    written and percent-decoded: what to register as secret."""
    found = [text for secret in _query_secrets(value) for text in (secret, unquote(secret))]
    for userinfo in _userinfos(value):
        password = userinfo.partition(":")[2]
        found += [userinfo, unquote(userinfo), password, unquote(password)]
    return [text for text in dict.fromkeys(found) if text]


def _userinfos(value: str) -> list[str]:
    """Every userinfo in one value. No URL holds a blank, but a password typed with one (and a `/` or `@` too) would
    not be found in text by _USERINFO: in a value with a blank, USER:PASSWORD runs from each :// to the last @ after
    it."""
    userinfos = [match.group(1) for pattern in (_USERINFO, _ONE_SLASH) for match in pattern.finditer(value)]
    if any(c.isspace() for c in value):
        for part in value.split("://")[1:]:
            userinfo = part.rpartition("@")[0]
            if ":" in userinfo and any(c.isspace() for c in userinfo):
                userinfos.append(userinfo)
    return userinfos


def split(url: str) -> tuple[str, str | None, str | None]:
    """(the URL without userinfo, user name, password), the names percent-decoded; None where absent."""
    match = _USERINFO.search(url)
    if not match or not _SCHEME.fullmatch(url[:match.start()]):
        return url, None, None
    user, colon, password = match.group(1).partition(":")
    bare = f"{url[:match.start()]}://{url[match.end():]}"
    return (bare, unquote(user), unquote(password) if colon else None) if match.group(1) else (bare, None, None)


def basic_auth(user: str, password: str | None) -> str:
    """The Authorization header value for HTTP Basic auth (RFC 7617)."""
    return "Basic " + base64.b64encode(f"{user}:{password or ''}".encode()).decode()

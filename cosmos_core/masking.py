"""Secrets shown masked: a database or webhook URL's password, a login's password (pure).

Everything the product prints or shows in the page that may hold a secret goes through here, so that
every place masks the same spellings of it."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "****"


def mask_auth(auth: str) -> str:
    """'user:password' -> 'user:****'; '' (no login) stays ''."""
    user, colon, _ = auth.partition(":")
    return f"{user}:{MASK}" if colon else auth


def mask_url(url: str, *, hide_path: bool = False) -> str:
    """The URL with its password (in the address or a `password` query parameter) masked;
    with `hide_path`, its path, query and fragment too. A URL that does not parse keeps only its scheme."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return f"{url.partition('://')[0]}://{MASK}"
    netloc, query = parts.netloc, parts.query
    if password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:{MASK}@{hostport}"
    if hide_path:
        hidden = parts.path.strip("/") or parts.query or parts.fragment
        return urlunsplit((parts.scheme, netloc, f"/{MASK}" if hidden else parts.path, "", ""))
    pairs = parse_qsl(query, keep_blank_values=True)
    if any("password" in key.lower() for key, _ in pairs):
        query = urlencode([(key, MASK if "password" in key.lower() else value) for key, value in pairs], safe="*")
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # as written: urlunsplit would drop the '//' of sqlite:///
    return urlunsplit(parts._replace(netloc=netloc, query=query))

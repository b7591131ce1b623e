"""Access tokens for the live outputs that viewers connect to (webrtc://, rtsp://@:PORT/NAME).

A car's network is shared (a passenger's phone on its Wi-Fi), so a served stream asks for a
token by default: given in the output's URI (`?token=...`), else in NIRCOLOR_STREAM_TOKEN, else
made for the run and printed in the URL to open. `--no-auth` turns it off, said at start.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
from urllib.parse import parse_qs, urlsplit

TOKEN_ENV = "NIRCOLOR_STREAM_TOKEN"
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,128}")


class TokenError(ValueError):
    """A token that cannot be used; the message says what one looks like."""


def query_value(uri: str, key: str) -> str | None:
    values = parse_qs(urlsplit(uri).query).get(key)
    return values[-1] if values else None


def stream_token(uri: str, auth: bool = True) -> str | None:
    """The token viewers of `uri` must present: None when `auth` is off."""
    if not auth:
        return None
    token = query_value(uri, "token") or os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(16)
    if not TOKEN_PATTERN.fullmatch(token):
        raise TokenError(f"a stream token is 8 to 128 letters, digits, '-' or '_' (URL-safe); got {len(token)} characters "
                         f"that are not: set another in the output's ?token= or {TOKEN_ENV}")
    return token


def token_matches(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; any request passes when no token is expected."""
    if expected is None:
        return True
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def no_auth_warning(uri: str) -> str:
    return f"warning: {uri} is served without an access token (--no-auth): anyone who can reach this port can watch"

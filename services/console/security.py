"""Cookies and CSRF tokens.

The session cookie holds nothing but the suite's own session token: auth decides whether it is
live (idle and absolute timeouts, logout, deregistration, an officer's password reset), and the
console asks it on every request (IntrospectSession, which also counts as activity). So the
console keeps no session state of its own and cannot outlive or contradict the suite's rule.

CSRF: a signed-in form carries HMAC(key, session token), which a cross-site page cannot compute
(it can read neither the cookie nor the key); the sign-in form, before there is a session,
carries a random value that must equal a cookie set with the form (double submit). Both
cookies are HttpOnly and SameSite=Strict, which on their own already keep other sites' forms
out; the token is the second lock.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from starlette.responses import Response

SESSION_COOKIE = "ens_console_session"
LOGIN_CSRF_COOKIE = "ens_console_login"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class CookiePolicy:
    secure: bool

    def set(self, response: Response, name: str, value: str) -> None:
        response.set_cookie(name, value, path="/", secure=self.secure, httponly=True, samesite="strict")

    def clear(self, response: Response, name: str) -> None:
        response.delete_cookie(name, path="/", secure=self.secure, httponly=True, samesite="strict")


class Csrf:
    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def for_session(self, session_token: str) -> str:
        return hmac.new(self._key, b"csrf\x00" + session_token.encode(), hashlib.sha256).hexdigest()

    def session_ok(self, session_token: str, submitted: str | None) -> bool:
        return bool(submitted) and hmac.compare_digest(self.for_session(session_token), submitted or "")

    @staticmethod
    def new_login_token() -> str:
        return secrets.token_urlsafe(32)

    @staticmethod
    def login_ok(cookie: str | None, submitted: str | None) -> bool:
        return bool(cookie) and bool(submitted) and hmac.compare_digest(cookie or "", submitted or "")


PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; frame-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# A mail's HTML: no script, no remote anything (images would tell the sender the mail was read,
# and leak the officer's address); inline styles are how mails are written.
MAIL_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; frame-ancestors 'self'; base-uri 'none'; sandbox"

"""The loopback's checks on requests: Upbit's JWT (protocols.md §A.4) and rate limits (§A.5).

JWT: ``Authorization: Bearer <token>`` signed with the secret key, HS256 (pyupbit) or HS512
(current docs); ``access_key`` must match, every ``nonce`` is single-use, and a request with
parameters must carry ``query_hash`` = SHA-512 hex of its parameters as ``key=value&...``. Both
spellings of that string are accepted: the official one (not percent-encoded) and pyupbit's
(``urlencode`` with ``[]`` left as is).

Rate limits: fixed one-second windows per group (order 8/s, Exchange default 30/s, Quotation 10/s
per group). ``Remaining-Req`` reports what is left in the second; the request past the limit gets
429, and one more request within the second after a 429 gets 418 and a ban.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlencode

import jwt

from engine.venues.upbit.loopback_orders import ExchangeError

GROUP_LIMITS = {
    "order": 8,
    "default": 30,
    "market": 10,
    "ticker": 10,
    "orderbook": 10,
    "candles": 10,
    "crix-trades": 10,
}
BAN_S = 5.0
"""How long a 418 bans the client on the loopback (the venue escalates; 5 s keeps tests short)."""


def _hash_candidates(params: dict[str, Any]) -> set[str]:
    pairs: list[tuple[str, Any]] = []
    for key, value in params.items():
        if isinstance(value, list):
            pairs.extend((key, item) for item in value)
        else:
            pairs.append((key, value))
    encoded = urlencode(pairs)
    texts = {unquote(encoded), encoded.replace("%5B%5D=", "[]=")}
    return {hashlib.sha512(text.encode()).hexdigest() for text in texts}


class JwtVerifier:
    """Checks ``Authorization`` headers against one key pair."""

    def __init__(self, access_key: str, secret_key: str) -> None:
        self._access_key = access_key
        self._secret_key = secret_key
        self._nonces: set[str] = set()

    def verify(self, authorization: str | None, params: dict[str, Any]) -> None:
        """Raise :class:`ExchangeError` (401) the way Upbit answers a bad token."""
        if not authorization or not authorization.startswith("Bearer "):
            raise ExchangeError(401, "jwt_verification", "JWT 토큰 검증에 실패했습니다.")
        try:
            claims = jwt.decode(
                authorization[len("Bearer ") :],
                self._secret_key,
                algorithms=["HS256", "HS512"],
            )
        except jwt.PyJWTError:
            raise ExchangeError(401, "jwt_verification", "JWT 토큰 검증에 실패했습니다.") from None
        if claims.get("access_key") != self._access_key:
            raise ExchangeError(401, "invalid_access_key", "잘못된 엑세스 키입니다.")
        nonce = str(claims.get("nonce", ""))
        if not nonce or nonce in self._nonces:
            raise ExchangeError(401, "nonce_used", "이미 요청한 nonce값이 다시 사용되었습니다.")
        self._nonces.add(nonce)
        if params and claims.get("query_hash") not in _hash_candidates(params):
            raise ExchangeError(
                401, "invalid_query_payload", "JWT 헤더의 페이로드가 올바르지 않습니다."
            )


class RateLimited(Exception):
    """The request is over the limit: answer ``status`` with ``Retry-After`` if set."""

    def __init__(self, status: int, retry_after_s: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after_s = retry_after_s


class RateWindows:
    """Per-group request counts in the current second, plus injected rate-limit replies."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, int]] = {}
        self._last_429: dict[str, float] = {}
        self._banned_until = 0.0
        self._injected: list[tuple[int, float | None]] = []
        self.rejections = {429: 0, 418: 0}

    def inject(self, status: int, count: int, retry_after_s: float | None) -> None:
        self._injected.extend([(status, retry_after_s)] * count)

    def admit(self, group: str, groups_injectable: Iterable[str] = ("order", "default")) -> int:
        """Count one request; returns what is left this second, or raises :class:`RateLimited`."""
        now = time.monotonic()
        if self._injected and group in groups_injectable:
            status, retry_after = self._injected.pop(0)
            self.rejections[status] += 1
            raise RateLimited(status, retry_after)
        if now < self._banned_until:
            self.rejections[418] += 1
            raise RateLimited(418, self._banned_until - now)
        second = int(now)
        window, count = self._counts.get(group, (second, 0))
        if window != second:
            window, count = second, 0
        count += 1
        self._counts[group] = (window, count)
        limit = GROUP_LIMITS.get(group, 10)
        if count <= limit:
            return limit - count
        if now - self._last_429.get(group, -10.0) < 1.0:
            self._banned_until = now + BAN_S
            self.rejections[418] += 1
            raise RateLimited(418, BAN_S)
        self._last_429[group] = now
        self.rejections[429] += 1
        raise RateLimited(429, None)

    @staticmethod
    def header(group: str, remaining: int) -> str:
        limit = GROUP_LIMITS.get(group, 10)
        return f"group={group}; min={limit * 60}; sec={max(0, remaining)}"

"""Upbit REST transport: pyupbit's JWT signing, httpx for the wire, limits from the headers.

Why not pyupbit's request functions (pyupbit 0.2.34, read in site-packages; protocols.md §E.1):

- every ``Upbit`` method has the URL ``https://api.upbit.com/v1/...`` hard-coded, so testnets,
  proxies and the loopback server cannot be reached without monkeypatching its ``requests``;
- its ``error_handler`` raises body-less exception classes for the error names it knows, returns
  the error body *as a success* for the ones it does not (``invalid_price_bid``,
  ``order_not_found``...), and the ``Upbit`` methods then swallow everything and return ``None``;
- a plain-text 429 body makes it raise ``JSONDecodeError``; 418 and ``Retry-After`` are ignored;
- it is synchronous ``requests`` with a new connection per call.

So STOM uses pyupbit for what it gets right, the signing (``Upbit._request_headers``: HS256 JWT
with ``access_key``, a fresh ``nonce`` and, when there are parameters, the SHA-512
``query_hash`` of exactly the query string sent), and sends the request itself with one pooled
``httpx.AsyncClient`` on a configurable base URL. The venue's status, ``error.name`` and
``error.message`` then reach the caller as :class:`VenueRejected`, rate limits as
:class:`VenueUnavailable`.

Rate limits (§A.5): every reply carries ``Remaining-Req: group=<g>; min=<n>; sec=<n>``. The
transport learns each endpoint's group from it and, once ``sec`` reaches 0, holds the next request
of that group until the second has passed (backing off *before* the limit). A 429 or 418 blocks all
requests locally for ``Retry-After`` seconds (1 s / 30 s when absent), because Upbit escalates to
a longer 418 ban when requests continue after a 429.
"""

from __future__ import annotations

import asyncio
import re
import time
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import msgspec
import pyupbit

from engine.config.secrets import Secret
from engine.venues.base import VenueRejected, VenueUnavailable

_REMAINING_RE = re.compile(r"group=([a-z\-]+); min=([0-9]+); sec=([0-9]+)")
DEFAULT_RETRY_429_S = 1.0
DEFAULT_RETRY_418_S = 30.0
CLOCK_OFFSET_NOISE_NS = 1_500_000_000
"""``Date`` has 1 s resolution: offsets smaller than this are noise, not skew."""


def query_string(params: dict[str, Any]) -> str:
    """The query string exactly as sent and as hashed (pyupbit's rule: ``[]`` left unescaped)."""
    return urlencode(params, doseq=True).replace("%5B%5D=", "[]=")


class _Window:
    __slots__ = ("remaining", "started")

    def __init__(self, remaining: int, started: float) -> None:
        self.remaining = remaining
        self.started = started


class UpbitRest:
    """Public and signed requests to one Upbit REST base URL (``.../v1``)."""

    def __init__(
        self,
        rest_url: str,
        *,
        access_key: Secret | None = None,
        secret_key: Secret | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.rest_url = rest_url.rstrip("/")
        self._access_key = access_key
        self._secret_key = secret_key
        self._http = httpx.AsyncClient(timeout=timeout_s, headers={"Accept": "application/json"})
        self._group_of: dict[tuple[str, str], str] = {}
        self._windows: dict[str, _Window] = {}
        self._blocked_until = 0.0
        self.clock_offset_ns = 0
        """Venue clock minus local clock, from the ``Date`` header (0 when within noise)."""
        self.throttled = 0
        """Requests held back because the group's ``sec`` budget was spent."""
        self.requests = 0

    async def close(self) -> None:
        await self._http.aclose()

    async def public(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET a Quotation endpoint (no auth)."""
        return await self._send("GET", path, params or {}, signed=False)

    async def private(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        """A signed Exchange request: GET/DELETE params in the query, POST params as JSON."""
        if self._access_key is None or self._secret_key is None:
            raise VenueRejected("no_credentials", "Upbit access and secret keys are not set")
        return await self._send(method, path, params or {}, signed=True)

    def _sign(self, params: dict[str, Any]) -> dict[str, str]:
        assert self._access_key is not None and self._secret_key is not None
        signer = pyupbit.Upbit(self._access_key.reveal(), self._secret_key.reveal())
        return signer._request_headers(params or None)

    async def _send(self, method: str, path: str, params: dict[str, Any], *, signed: bool) -> Any:
        await self._wait_for_budget(method, path)
        headers = self._sign(params) if signed else {}
        url = self.rest_url + path
        content: bytes | None = None
        if method == "POST":
            content = msgspec.json.encode(params)
            headers["Content-Type"] = "application/json; charset=utf-8"
        elif params:
            url = f"{url}?{query_string(params)}"
        self.requests += 1
        try:
            response = await self._http.request(method, url, headers=headers, content=content)
        except httpx.TransportError as exc:
            raise VenueUnavailable(f"Upbit {method} {path}: {type(exc).__name__}") from None
        self._note_headers(method, path, response)
        return self._result(method, path, response)

    async def _wait_for_budget(self, method: str, path: str) -> None:
        now = time.monotonic()
        if now < self._blocked_until:
            raise VenueUnavailable(
                "Upbit rate limit: requests are held back after a 429/418",
                retry_after_s=self._blocked_until - now,
            )
        group = self._group_of.get((method, path))
        window = self._windows.get(group) if group else None
        if window is None:
            return
        elapsed = now - window.started
        if elapsed >= 1.0:
            return
        if window.remaining <= 0:
            self.throttled += 1
            await asyncio.sleep(1.0 - elapsed)
            return
        window.remaining -= 1  # concurrent callers share the second's budget

    def _note_headers(self, method: str, path: str, response: httpx.Response) -> None:
        match = _REMAINING_RE.search(response.headers.get("Remaining-Req", ""))
        if match is not None:
            group = match.group(1)
            self._group_of[(method, path)] = group
            self._windows[group] = _Window(int(match.group(3)), time.monotonic())
        date = response.headers.get("Date")
        if date:
            try:
                venue_ns = int(parsedate_to_datetime(date).timestamp() * 1e9)
            except (TypeError, ValueError):
                return
            offset = venue_ns - time.time_ns()
            self.clock_offset_ns = offset if abs(offset) > CLOCK_OFFSET_NOISE_NS else 0

    def _result(self, method: str, path: str, response: httpx.Response) -> Any:
        status = response.status_code
        if status in (429, 418):
            default = DEFAULT_RETRY_429_S if status == 429 else DEFAULT_RETRY_418_S
            retry_after = _retry_after(response, default)
            self._blocked_until = time.monotonic() + retry_after
            raise VenueUnavailable(
                f"Upbit rate limit (HTTP {status}) on {method} {path}", retry_after_s=retry_after
            )
        if status >= 500:
            raise VenueUnavailable(f"Upbit {method} {path}: HTTP {status}")
        try:
            body = msgspec.json.decode(response.content) if response.content else None
        except msgspec.DecodeError:
            body = None
        if status >= 400:
            name, message = _error_of(body, response)
            raise VenueRejected(name, message)
        return body


def _retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return default


def _error_of(body: Any, response: httpx.Response) -> tuple[str, str]:
    """The venue's ``error.name`` / ``error.message`` (numeric names on quotation errors)."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return str(error.get("name", response.status_code)), str(error.get("message", ""))
    return str(response.status_code), response.text[:200]

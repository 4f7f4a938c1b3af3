"""Kiwoom's REST transport: ``POST`` + ``api-id`` header, the access token, pacing and errors.

- Token (``au10001``): issued on first use, renewed ``renew_margin_s`` before ``expires_dt`` and
  re-issued once when a call answers 8005/8031/8103 or HTTP 401 (as the official client does).
- Clock: ``expires_dt`` is the server's KST wall time, so the server clock is what matters. Every
  response's ``Date`` header updates an offset from the local clock, and expiry is judged on the
  server's time: a skewed local clock neither uses a dead token nor renews in a loop.
- Rate limits are not published (protocols.md §C.3): requests are paced client-side at
  ``requests_per_second``; a ``return_code`` 1700 (or HTTP 429) blocks every request for an
  exponentially growing pause and raises :class:`VenueUnavailable` with that pause.
- Refusals raise :class:`VenueRejected` with the venue's code (the desk code inside
  ``[2000](...)`` when there is one) and message. Secrets never reach a message or a log line.
"""

from __future__ import annotations

import asyncio
import logging
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import msgspec

from engine.config.secrets import Secret
from engine.domain.clock import Clock, LiveClock
from engine.venues.base import VenueRejected, VenueUnavailable
from engine.venues.kiwoom import wire

log = logging.getLogger("stom.venues.kiwoom")

_JSON = msgspec.json.Decoder(dict[str, Any])
_ENCODE = msgspec.json.encode
MAX_PAUSE_S = 30.0


class KiwoomRest:
    """One account's signed REST session (token, pacing, clock offset)."""

    def __init__(
        self,
        rest_url: str,
        app_key: Secret,
        secret_key: Secret,
        *,
        clock: Clock | None = None,
        requests_per_second: float = 5.0,
        renew_margin_s: float = 300.0,
        timeout_s: float = 10.0,
    ) -> None:
        self._url = rest_url.rstrip("/")
        self._app_key = app_key
        self._secret_key = secret_key
        self._clock = clock or LiveClock()
        self._interval = 1.0 / requests_per_second
        self._renew_margin_ns = int(renew_margin_s * wire.NS)
        self._http = httpx.AsyncClient(timeout=timeout_s)
        self._token: Secret | None = None
        self._expires_ns = 0
        self._offset_ns = 0
        """Server clock minus local clock, from the last ``Date`` header."""
        self._next_slot = 0.0
        self._blocked_until = 0.0
        self._pause_s = 0.0
        self._token_lock = asyncio.Lock()
        self._pace_lock = asyncio.Lock()
        self.tokens_issued = 0
        self.rate_limited = 0

    @property
    def clock_offset_s(self) -> float:
        return self._offset_ns / wire.NS

    def server_now_ns(self) -> int:
        return self._clock.now_ns() + self._offset_ns

    async def token(self) -> Secret:
        """A valid access token (issued or renewed as needed)."""
        async with self._token_lock:
            if (
                self._token is None
                or self.server_now_ns() >= self._expires_ns - self._renew_margin_ns
            ):
                await self._issue()
            assert self._token is not None
            return self._token

    async def post(
        self,
        path: str,
        api_id: str,
        body: dict[str, Any],
        *,
        next_key: str | None = None,
    ) -> tuple[dict[str, Any], str | None]:
        """One TR call; returns the body and the ``next-key`` when ``cont-yn`` says more pages."""
        for attempt in (0, 1):
            try:
                token = await self.token()
            except VenueUnavailable as exc:
                exc.unsent = True  # no token: this request was never sent
                raise
            status, headers, answer = await self._send(path, api_id, body, token, next_key)
            code = _return_code(answer)
            if (status == 401 or code in wire.TOKEN_RETRY_CODES) and attempt == 0:
                log.info("kiwoom %s: token refused (code %s); issuing a new one", api_id, code)
                async with self._token_lock:
                    if self._token is token:
                        self._token = None
                continue
            self._check(status, api_id, code, answer)
            more = headers.get("cont-yn") == "Y"
            return answer, (headers.get("next-key") or None) if more else None
        raise VenueUnavailable(  # pragma: no cover
            f"kiwoom {api_id}: the token was refused twice", unsent=True
        )

    async def post_pages(
        self, path: str, api_id: str, body: dict[str, Any], key: str, max_pages: int = 20
    ) -> list[dict[str, Any]]:
        """Every row of list ``key`` across continuation pages (``cont-yn`` / ``next-key``)."""
        rows: list[dict[str, Any]] = []
        next_key: str | None = None
        for _ in range(max_pages):
            answer, next_key = await self.post(path, api_id, body, next_key=next_key)
            page = answer.get(key) or []
            rows.extend(row for row in page if isinstance(row, dict))
            if next_key is None:
                break
        return rows

    async def revoke(self) -> None:
        """Revoke the current token (``au10002``); errors are logged, not raised."""
        token = self._token
        if token is None:
            return
        self._token = None
        body = {
            "appkey": self._app_key.reveal(),
            "secretkey": self._secret_key.reveal(),
            "token": token.reveal(),
        }
        try:
            await self._send(wire.REVOKE_PATH, wire.TOKEN_REVOKE, body, None, None)
        except VenueUnavailable as exc:
            log.info("kiwoom token revoke failed: %s", exc)

    async def close(self) -> None:
        await self._http.aclose()

    # --- internals ----------------------------------------------------------------------------

    async def _issue(self) -> None:
        body = {
            "grant_type": "client_credentials",
            "appkey": self._app_key.reveal(),
            "secretkey": self._secret_key.reveal(),
        }
        status, _, answer = await self._send(wire.TOKEN_PATH, wire.TOKEN_ISSUE, body, None, None)
        code = _return_code(answer)
        self._check(status, wire.TOKEN_ISSUE, code, answer)
        token, expires = answer.get("token"), answer.get("expires_dt")
        if not isinstance(token, str) or not token or not isinstance(expires, str):
            raise VenueUnavailable("kiwoom au10001: the answer has no token or expires_dt")
        try:
            self._expires_ns = wire.parse_kst(expires)
        except ValueError:
            raise VenueUnavailable(f"kiwoom au10001: bad expires_dt {expires!r}") from None
        self._token = Secret(token)
        self.tokens_issued += 1

    async def _pace(self) -> None:
        """Wait for this request's slot: spaced by the pace, and after any rate-limit pause."""
        async with self._pace_lock:
            now = time.monotonic()
            start = max(now, self._next_slot, self._blocked_until)
            self._next_slot = start + self._interval
        if start > now:
            await asyncio.sleep(start - now)

    async def _send(
        self,
        path: str,
        api_id: str,
        body: dict[str, Any],
        token: Secret | None,
        next_key: str | None,
    ) -> tuple[int, httpx.Headers, dict[str, Any]]:
        if self._blocked_until > time.monotonic():
            raise VenueUnavailable(
                f"kiwoom {api_id}: rate limited, pausing",
                retry_after_s=self._blocked_until - time.monotonic(),
                unsent=True,
            )
        await self._pace()
        headers = {"Content-Type": "application/json;charset=UTF-8", "api-id": api_id}
        if token is not None:
            headers["authorization"] = f"Bearer {token.reveal()}"
        if next_key is not None:
            headers["cont-yn"] = "Y"
            headers["next-key"] = next_key
        try:
            response = await self._http.post(
                self._url + path, content=_ENCODE(body), headers=headers
            )
        except httpx.HTTPError as exc:
            # Not connected (refused, connect timeout, no pooled connection): nothing was sent.
            # Any other error (a read timeout, a reset) may have come after the venue got it.
            unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
            raise VenueUnavailable(
                f"kiwoom {api_id}: {type(exc).__name__}", unsent=unsent
            ) from None
        self._note_date(response.headers.get("date"))
        try:
            answer = _JSON.decode(response.content) if response.content else {}
        except msgspec.DecodeError:
            answer = {}
        if response.status_code >= 500 or (response.status_code >= 400 and not answer):
            raise VenueUnavailable(
                f"kiwoom {api_id}: HTTP {response.status_code}", retry_after_s=1.0
            )
        return response.status_code, response.headers, answer

    def _note_date(self, date: str | None) -> None:
        if not date:
            return
        try:
            server_ns = int(parsedate_to_datetime(date).timestamp()) * wire.NS
        except (TypeError, ValueError):
            return
        # The header has whole seconds: keep the local sub-second part, ignore jitter under 1 s.
        offset = server_ns - self._clock.now_ns()
        if abs(offset - self._offset_ns) > wire.NS:
            self._offset_ns = offset

    def _check(self, status: int, api_id: str, code: int, answer: dict[str, Any]) -> None:
        message = str(answer.get("return_msg", ""))
        if code == wire.RATE_LIMITED or status == 429:
            self.rate_limited += 1
            self._pause_s = min(MAX_PAUSE_S, self._pause_s * 2 if self._pause_s else 1.0)
            self._blocked_until = time.monotonic() + self._pause_s
            raise VenueUnavailable(
                f"kiwoom {api_id}: rate limited ({code}: {message})",
                retry_after_s=self._pause_s,
                unsent=True,  # refused, not carried out
            )
        if code != wire.OK:
            raise VenueRejected(wire.error_code_of(code, message), message)
        self._pause_s = 0.0


def _return_code(answer: dict[str, Any]) -> int:
    code = answer.get("return_code", 0)
    try:
        return int(code)
    except (TypeError, ValueError):
        return -1

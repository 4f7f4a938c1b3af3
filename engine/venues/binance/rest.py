"""Binance REST through python-binance's ``AsyncClient``, with what the library leaves out.

python-binance (protocols.md §E.2) builds, signs and sends the requests. This module adds:

- **base URL override**: ``API_URL`` is set on the instance to ``<rest_url>/api`` (testnets,
  proxies, the loopback server);
- **secrets revealed only while signing**: the API secret stays a :class:`Secret` and
  ``_hmac_signature`` reveals it for the one HMAC; the library never holds it;
- **rate limits** (§B.5): the ``X-MBX-USED-WEIGHT-1M`` header of every reply is tracked; requests
  stop *before* the limit (:class:`VenueUnavailable` until the minute rolls over; cancels still
  go, they reduce risk); 429/418 and ``-1003`` block every request for ``Retry-After`` seconds;
- **clock drift** (§B.3, issues #746/#1378): the server-time offset is measured at the first
  signed call and every ``time_sync_interval_s``; a ``-1021`` re-measures it and retries once;
- **errors** grouped for the caller: the venue's own code and message as :class:`VenueRejected`;
  network errors, 5xx (status unknown) and rate limits as :class:`VenueUnavailable`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from binance.async_client import AsyncClient
from binance.exceptions import BinanceAPIException, BinanceRequestException

from engine.config.secrets import Secret
from engine.domain.clock import Clock, LiveClock
from engine.venues.base import VenueRejected, VenueUnavailable

WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
SOFT_LIMIT = 0.9
"""Share of the minute's weight after which only risk-reducing requests (cancels) still go."""
DEFAULT_RETRY_AFTER_S = 10.0
NS_PER_S = 1_000_000_000


class _StomAsyncClient(AsyncClient):
    """``AsyncClient`` signing with a :class:`Secret` revealed only for the HMAC itself."""

    def __init__(self, rest_url: str, api_key: Secret | None, api_secret: Secret | None) -> None:
        # The key travels in the X-MBX-APIKEY header of the library's session; the secret never
        # reaches the library.
        super().__init__(api_key=api_key.reveal() if api_key else None, api_secret=None)
        self.API_URL = rest_url.rstrip("/") + "/api"
        self._stom_secret = api_secret

    def _hmac_signature(self, query_string: str) -> str:
        if not self._stom_secret:
            raise VenueRejected("-2015", "no API secret configured for signed Binance requests")
        digest = hmac.new(
            self._stom_secret.reveal().encode(), query_string.encode(), hashlib.sha256
        )
        return digest.hexdigest()


class BinanceRest:
    """One Binance REST session: python-binance calls behind the rate gate and error mapping."""

    def __init__(
        self,
        rest_url: str,
        *,
        api_key: Secret | None = None,
        api_secret: Secret | None = None,
        clock: Clock | None = None,
        weight_limit: int = 6000,
        time_sync_interval_s: float = 600.0,
    ) -> None:
        self.rest_url = rest_url
        self._api_key = api_key
        self._api_secret = api_secret
        self._clock = clock or LiveClock()
        self.weight_limit = weight_limit
        self.used_weight = 0
        self._weight_minute = -1
        self.blocked_until_ns = 0
        self._time_sync_interval_ns = int(time_sync_interval_s * NS_PER_S)
        self._time_synced_ns: int | None = None
        self._client: _StomAsyncClient | None = None

    @property
    def client(self) -> AsyncClient:
        """The library client (created on first use, inside the running loop)."""
        if self._client is None:
            self._client = _StomAsyncClient(self.rest_url, self._api_key, self._api_secret)
        return self._client

    @property
    def timestamp_offset_ms(self) -> int:
        return int(self.client.timestamp_offset)

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close_connection()

    async def call(
        self,
        method: Callable[..., Awaitable[Any]],
        *,
        weight: int,
        signed: bool = False,
        reduces_risk: bool = False,
        **params: Any,
    ) -> Any:
        """``await method(**params)`` (a bound ``AsyncClient`` method) under the rate gate.

        Raises :class:`VenueRejected` (the venue's code and message) or
        :class:`VenueUnavailable` (retry after ``retry_after_s``).
        """
        self._gate(weight, reduces_risk)
        if signed and self._time_sync_due():
            await self.sync_time()
        try:
            return await self._send(method, params)
        except VenueRejected as rejected:
            if rejected.code != "-1021" or not signed:
                raise
        # -1021: our clock drifted from the server's. Measure the offset again and retry once;
        # the request was refused before the matching engine, so resending cannot duplicate it.
        await self.sync_time()
        return await self._send(method, params)

    async def sync_time(self) -> None:
        """Measure the server-time offset (``GET /api/v3/time``, midpoint of the round trip)."""
        client = self.client
        sent_ms = time.time() * 1000
        reply = await self._send(client.get_server_time, {})
        received_ms = time.time() * 1000
        client.timestamp_offset = int(reply["serverTime"] - (sent_ms + received_ms) / 2)
        self._time_synced_ns = self._clock.now_ns()

    # --- internals ----------------------------------------------------------------------------

    def _time_sync_due(self) -> bool:
        synced = self._time_synced_ns
        return synced is None or self._clock.now_ns() - synced >= self._time_sync_interval_ns

    def _gate(self, weight: int, reduces_risk: bool) -> None:
        now = self._clock.now_ns()
        if now < self.blocked_until_ns:
            raise VenueUnavailable(
                "Binance rate limit: waiting for Retry-After", (self.blocked_until_ns - now) / 1e9
            )
        minute = self._server_minute(now)
        if minute != self._weight_minute:
            self._weight_minute, self.used_weight = minute, 0
        if reduces_risk:
            return
        if self.used_weight + weight > self.weight_limit * SOFT_LIMIT:
            next_minute_ms = (minute + 1) * 60_000
            wait_s = max(0.0, next_minute_ms / 1000 - self._server_now_ms(now) / 1000)
            raise VenueUnavailable(
                f"Binance request weight {self.used_weight}/{self.weight_limit} this minute: "
                "holding back before the limit",
                wait_s,
            )

    def _server_now_ms(self, now_ns: int) -> float:
        offset = self._client.timestamp_offset if self._client is not None else 0
        return now_ns / 1_000_000 + offset

    def _server_minute(self, now_ns: int) -> int:
        return int(self._server_now_ms(now_ns) // 60_000)

    def _note_weight(self, headers: Any) -> None:
        if headers is None:
            return
        used = headers.get(WEIGHT_HEADER)
        if used is not None and str(used).isdigit():
            self.used_weight = int(used)
            self._weight_minute = self._server_minute(self._clock.now_ns())

    async def _send(self, method: Callable[..., Awaitable[Any]], params: dict[str, Any]) -> Any:
        client = self.client
        try:
            result = await method(**params)
        except BinanceAPIException as exc:
            response = getattr(exc, "response", None)
            headers = getattr(response, "headers", None)
            self._note_weight(headers)
            raise self._mapped(exc, headers) from None
        except (aiohttp.ClientError, TimeoutError, BinanceRequestException) as exc:
            raise VenueUnavailable(f"Binance unreachable: {type(exc).__name__}") from None
        response = client.response
        self._note_weight(getattr(response, "headers", None))
        return result

    def _mapped(self, exc: BinanceAPIException, headers: Any) -> Exception:
        status = int(exc.status_code)
        code = str(exc.code)
        message = str(exc.message or "")
        if status in (418, 429) or code == "-1003":
            retry_after = _retry_after(headers)
            self.blocked_until_ns = self._clock.now_ns() + int(retry_after * NS_PER_S)
            return VenueUnavailable(
                f"Binance rate limit (HTTP {status}, {code}: {message})", retry_after
            )
        if status >= 500 or code == "-1007":
            # Execution status unknown: the caller must query before assuming anything.
            return VenueUnavailable(f"Binance HTTP {status} ({code}: {message})", 1.0)
        return VenueRejected(code, message)


def _retry_after(headers: Any) -> float:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else DEFAULT_RETRY_AFTER_S
    except ValueError:
        return DEFAULT_RETRY_AFTER_S

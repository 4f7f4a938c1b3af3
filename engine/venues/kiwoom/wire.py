"""Kiwoom REST wire vocabulary: paths, TR ids (``api-id``), return codes, FIDs, frame layouts.

Facts from ``protocols.md`` §C.2-C.6 (the official ``Kiwoom-Securities/Kiwoom-REST-API`` repo).
Shared by the adapter and its loopback server so both speak exactly the same words. Numbers on the
wire are strings, prices often signed relative to the previous close (``"+71200"``, ``"-70300"``):
:func:`price_of` takes the absolute value.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import msgspec

# --- paths -----------------------------------------------------------------------------------
TOKEN_PATH = "/oauth2/token"
REVOKE_PATH = "/oauth2/revoke"
ORDER_PATH = "/api/dostk/ordr"
ACCOUNT_PATH = "/api/dostk/acnt"
STOCK_INFO_PATH = "/api/dostk/stkinfo"
MARKET_PATH = "/api/dostk/mrkcond"
CHART_PATH = "/api/dostk/chart"
WS_PATH = "/api/dostk/websocket"

# --- TR ids (the ``api-id`` header) ------------------------------------------------------------
TOKEN_ISSUE = "au10001"
TOKEN_REVOKE = "au10002"
BUY = "kt10000"
SELL = "kt10001"
MODIFY = "kt10002"
CANCEL = "kt10003"
DEPOSIT = "kt00001"
"""예수금상세현황: ``entr`` (deposit) and ``ord_alow_amt`` (orderable cash)."""
ACCOUNT_BALANCE = "kt00018"
"""계좌평가잔고내역: holdings in ``acnt_evlt_remn_indv_tot``."""
OPEN_ORDERS = "ka10075"
"""미체결: rows in ``oso``."""
EXECUTIONS = "ka10076"
"""체결요청: rows in ``cntr`` (one per execution of an order: see the adapter's notes)."""
STOCK_INFO = "ka10001"
"""주식기본정보: ``stk_nm``, ``base_pric``, ``upl_pric`` / ``lst_pric`` (daily limit prices)."""
STOCK_LOOKUP = "ka10100"
"""종목정보 조회: the listing of one code, with its market (``marketCode``, ``marketName``)."""
TRADE_INFO = "ka10003"
"""체결정보: recent trades in ``cntr_infr``."""
MINUTE_CHART = "ka10080"
"""주식분봉차트: bars in ``stk_min_pole_chart_qry``."""

# --- return codes (protocols.md §C.3) ------------------------------------------------------------
OK = 0
RATE_LIMITED = 1700
TOKEN_RETRY_CODES = frozenset({8005, 8031, 8103})
"""The official client re-issues the token once on these (and on HTTP 401)."""
BAD_TOKEN = 8005
BAD_APP_KEY = 8001
ORDER_REFUSED = 20
"""Order-desk refusals: ``return_msg`` is ``"[2000](<code>:<text>)"`` with the desk's own code."""

# Desk codes inside ``[2000](...)`` messages. Only the message shape and 855056 (buying power)
# are seen in public traffic; the others are the loopback's choice (protocols.md §G: unconfirmed).
DESK_INSUFFICIENT_CASH = "855056"
DESK_INSUFFICIENT_SHARES = "800100"
DESK_TICK_SIZE = "RC4027"
DESK_PRICE_LIMIT = "RC4033"
DESK_NO_ORDER = "RC4031"
DESK_BAD_QUANTITY = "RC4010"

_DESK_RE = re.compile(r"^\[(\d+)\]\(([A-Za-z0-9]+):(.*)\)\s*$", re.S)


def desk_message(code: str, text: str) -> str:
    """An order-desk refusal as Kiwoom words it: ``[2000](855056:...)``."""
    return f"[2000]({code}:{text})"


def error_code_of(return_code: int, return_msg: str) -> str:
    """The most specific code in a refusal: the desk code inside ``[2000](...)`` if any."""
    match = _DESK_RE.match(return_msg)
    return match.group(2) if match else str(return_code)


# --- trade types (``trde_tp``) ------------------------------------------------------------------
TRDE_LIMIT = "0"
TRDE_MARKET = "3"
TRDE_LIMIT_IOC = "10"
TRDE_MARKET_IOC = "13"
TRDE_LIMIT_FOK = "20"
TRDE_MARKET_FOK = "23"

# --- realtime ------------------------------------------------------------------------------------
REAL_TRADE = "0B"
REAL_BOOK = "0D"
FID_TIME = "20"
FID_PRICE = "10"
FID_VOLUME = "15"
"""Signed: + buyer-initiated, - seller-initiated (protocols.md §C.6 [U])."""
FID_CUM_VOLUME = "13"
FID_BEST_ASK = "27"
FID_BEST_BID = "28"
FID_BOOK_TIME = "21"
BOOK_LEVELS = 10
ASK_PRICE_FIDS = tuple(str(41 + level) for level in range(BOOK_LEVELS))
ASK_SIZE_FIDS = tuple(str(61 + level) for level in range(BOOK_LEVELS))
BID_PRICE_FIDS = tuple(str(51 + level) for level in range(BOOK_LEVELS))
BID_SIZE_FIDS = tuple(str(71 + level) for level in range(BOOK_LEVELS))


class RealItem(msgspec.Struct):
    """One entry of a ``REAL`` frame: ``item`` is a scalar here, ``values`` a FID map."""

    type: str
    item: str
    values: dict[str, str]
    name: str = ""


class Frame(msgspec.Struct):
    """Any realtime frame; fields a given ``trnm`` does not use keep their defaults."""

    trnm: str
    data: list[RealItem] = []
    return_code: int = 0
    return_msg: str = ""


FRAME_DECODER = msgspec.json.Decoder(Frame)

# --- numbers and time ------------------------------------------------------------------------
KST = timezone(timedelta(hours=9))
NS = 1_000_000_000
TOKEN_TIME_FORMAT = "%Y%m%d%H%M%S"


def price_of(text: str) -> int:
    """A wire price as a positive integer (KRX prices have no decimals)."""
    value = int(text)
    return -value if value < 0 else value


def kst_midnight_ns(now_ns: int) -> int:
    """Start of the KST day containing ``now_ns`` (ns UTC)."""
    day_ns = 86_400 * NS
    return (now_ns + 9 * 3600 * NS) // day_ns * day_ns - 9 * 3600 * NS


def hhmmss_ns(text: str) -> int:
    """Nanoseconds since KST midnight of an ``HHMMSS`` wire time."""
    value = int(text)
    return ((value // 10000) * 3600 + (value // 100 % 100) * 60 + value % 100) * NS


def kst_text(ts_ns: int, fmt: str = TOKEN_TIME_FORMAT) -> str:
    return datetime.fromtimestamp(ts_ns / NS, KST).strftime(fmt)


def parse_kst(text: str, fmt: str = TOKEN_TIME_FORMAT) -> int:
    """A KST wall-clock text (``expires_dt``, ``cntr_tm``) as ns UTC."""
    moment = datetime.strptime(text, fmt).replace(tzinfo=KST)
    return int(moment.astimezone(UTC).timestamp()) * NS

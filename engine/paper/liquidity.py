"""Consumed liquidity: what paper fills already took from levels the feed still displays.

The real venue never sees a paper order, so after a paper fill takes 5 from an ask level of 10 the
feed keeps showing 10. Without a memory of that take, the next paper order would be filled
against the same 5 again. :class:`ConsumedLiquidity` remembers, per side and price, how much paper
fills took and the displayed size that was measured against; the *effective* size of a level is
``displayed - consumed``.

When the feed later reports the level smaller, the decrease is assumed to be (partly) the market
catching up with our take, so ``consumed`` shrinks by the decrease, never below 0. When the level
disappears or the book is cleared the record is forgotten. Growth leaves ``consumed`` as it is:
only the new size is new liquidity. With these rules ``displayed - consumed`` never grows on a
decrease, so the total paper fills at a level never exceed its first displayed size plus its
later increases: the same displayed size is never filled twice.
"""

from __future__ import annotations

from engine.domain.market_data import BID

CONSUMED = 0
"""Index of the consumed size in a level record."""
DISPLAYED = 1
"""Index of the displayed size the record was last reconciled with."""


def update_level(records: dict[int, list[int]], price: int, size: int) -> None:
    """The feed set the level at ``price`` (which has a record) to ``size``.

    A plain function over the side's dict so the hot path calls it only after a membership test.
    """
    record = records[price]
    if size == 0:
        del records[price]
        return
    decrease = record[DISPLAYED] - size
    if decrease > 0:
        consumed = record[CONSUMED] - decrease
        if consumed <= 0:
            del records[price]
            return
        record[CONSUMED] = consumed
    record[DISPLAYED] = size


class ConsumedLiquidity:
    """One instrument's consumed-liquidity records: ``price -> [consumed, displayed]`` per side.

    Records are small mutable lists so an update on the hot path allocates nothing.
    """

    __slots__ = ("asks", "bids")

    def __init__(self) -> None:
        self.bids: dict[int, list[int]] = {}
        self.asks: dict[int, list[int]] = {}

    def __bool__(self) -> bool:
        return bool(self.bids) or bool(self.asks)

    def effective(self, book_side: int, price: int, displayed: int) -> int:
        """What paper orders may still take at a level showing ``displayed``."""
        records = self.bids if book_side == BID else self.asks
        record = records.get(price)
        if record is None:
            return displayed
        if record[DISPLAYED] != displayed:
            # Reconcile first, as if the feed had just reported this size.
            update_level(records, price, displayed)
            record = records.get(price)
            if record is None:
                return displayed
        return displayed - record[CONSUMED]

    def take(self, book_side: int, price: int, displayed: int, quantity: int) -> None:
        """Remember that a paper fill took ``quantity`` from a level showing ``displayed``.

        The caller has checked ``quantity <= effective(book_side, price, displayed)``.
        """
        records = self.bids if book_side == BID else self.asks
        record = records.get(price)
        if record is None:
            records[price] = [quantity, displayed]
        else:
            record[CONSUMED] += quantity

    def consumed(self, book_side: int, price: int) -> int:
        record = (self.bids if book_side == BID else self.asks).get(price)
        return 0 if record is None else record[CONSUMED]

    def clear(self) -> None:
        """The book was cleared: every record is forgotten (the dicts stay the same objects)."""
        self.bids.clear()
        self.asks.clear()

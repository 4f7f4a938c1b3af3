"""Pure domain model: identifiers, exact values, instruments, market data. No I/O.

Numeric representation (chosen once, for the whole project)
----------------------------------------------------------
Prices and sizes are **scaled integers** ("raw" values): ``raw = value * 10**precision`` where the
precision is the instrument's ``price_precision`` or ``size_precision``. Integers are exact, hash
and compare fast, and cost a fraction of :class:`decimal.Decimal` on the per-tick hot path. They are
converted to ``Decimal`` or decimal strings only at the edges: venue wire formats, MQTT payloads and
the screen (:mod:`engine.domain.fixed_point`). Tick sizes vary by price band (KRX, Upbit KRW), so a
price is not stored "in ticks"; :class:`engine.domain.tick_table.TickTable` checks and steps prices
on the grid in raw units.

Timestamps are integer nanoseconds since the Unix epoch, UTC (``ts_event`` from the venue,
``ts_init`` when STOM received it).
"""

"""Incremental features computed from the tick stream, identical live, on paper and in backtests
(they only read what every mode's callbacks deliver).

- :mod:`engine.features.stom_rows`: STOM's per-code 1-second rows and their variables (현재가,
  체결강도, 초당거래대금, the five book levels …), built from trades and book changes.
- :mod:`engine.features.stom_windows`: STOM's history accessors and window functions over rows
  (이동평균(n), 체결강도평균(n), 등락율각도(n) …).
"""

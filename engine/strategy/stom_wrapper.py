"""``stom backtest --stom-buy BUY.txt --stom-sell SELL.txt``: two STOM texts as a strategy file.

The file is written next to the data (``<data.dir>/stom_strategies/``), named by the texts'
content, so a result can always be re-run from what it names. Every ``self.vars[k]`` the texts
read becomes a parameter ``var<k>`` whose value comes from ``--param var<k>=V``; to search them
with ``stom optimize``, write the wrapper yourself with ranges (``docs/data.md``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from engine.strategy.api import ParamValue
from engine.strategy.stom_conditions import TextProblem, compile_text

__all__ = ["write_wrapper"]


def write_wrapper(
    buy: Path, sell: Path, params: dict[str, ParamValue], folder: Path
) -> tuple[Path, dict[str, ParamValue]]:
    """Write the strategy file; returns it and the params left for the strategy itself."""
    keys: dict[int, str] = {}
    for path, position in ((buy, False), (sell, True)):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TextProblem(f"{path}: cannot read: {exc}") from None
        _, uses = compile_text(text, str(path), position=position)
        for key, line in uses.items():
            keys.setdefault(key, f"{path}:{line}")
    remaining = dict(params)
    declared = []
    for key in sorted(k for k in keys if k):
        name = f"var{key}"
        if name not in remaining:
            raise TextProblem(f"{keys[key]}: self.vars[{key}] needs a value: --param {name}=V")
        value = remaining.pop(name)
        declared.append(f"    {name} = Param({value!r}, doc='self.vars[{key}]')")
    body = "\n".join(
        [
            '"""STOM condition texts as a strategy (stom backtest --stom-buy/--stom-sell).',
            f"buy: {buy.resolve()}",
            f'sell: {sell.resolve()}"""',
            "",
            "from engine.strategy.api import Param",
            "from engine.strategy.stom_conditions import StomConditionStrategy",
            "",
            "",
            "class StomConditions(StomConditionStrategy):",
            '    """The two texts; self.vars[k] is var<k>."""',
            "",
            f"    buy_file = {str(buy.resolve())!r}",
            f"    sell_file = {str(sell.resolve())!r}",
            *declared,
            "",
        ]
    )
    digest = hashlib.sha1(body.encode(), usedforsecurity=False).hexdigest()[:10]
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"stom-{buy.stem}-{sell.stem}-{digest}.py"
    if not target.exists():
        target.write_text(body, encoding="utf-8")
    return target, remaining

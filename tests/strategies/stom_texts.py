"""STOM condition texts (``stom/buy.txt``, ``stom/sell.txt``) as a strategy, for the tests."""

from engine.strategy.api import Param
from engine.strategy.stom_conditions import StomConditionStrategy


class StomTexts(StomConditionStrategy):
    """The two test texts; ``var1`` and ``var2`` are their ``self.vars[1]`` and ``[2]``."""

    buy_file = "stom/buy.txt"
    sell_file = "stom/sell.txt"
    var1 = Param(100.0, low=50.0, high=150.0, step=25.0, doc="체결강도평균 threshold")
    var2 = Param(0.5, low=0.25, high=2.0, step=0.25, doc="take-profit / stop-loss, %")

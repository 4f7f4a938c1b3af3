"""Issue 13 item 7, the strategy-facing part: named side constants for callbacks, and boolean and
categorical parameters that strategies declare, the engine validates and the optimizer searches
(grid, random and genetic, through a real study over recorded ticks)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from engine.config.settings import Settings
from engine.domain.market_data import ASK, BID
from engine.optimize.driver import run_study, space_of
from engine.optimize.executors import LocalExecutor
from engine.optimize.search import GeneticSearch, GridSearch, RandomSearch
from engine.optimize.space import Dimension, SearchSpace, build_space
from engine.optimize.study import Study, StudySpec, read_trials
from engine.protocol.strategies import StrategyInfo
from engine.strategy.api import Param, Side, Strategy
from engine.strategy.loader import StrategyLoadError, check_params, load_strategy_class
from engine.strategy.service import param_infos
from tests.support.optimum_data import BEST, write_optimum_dataset
from tests.support.strategy_desk import StrategyDesk
from tests.support.trading import BTC

SWING = '''"""The optimizer's timed swing, with a direction to choose and a switch."""
from engine.strategy.api import Param, Strategy


class ChoosySwing(Strategy):
    enter_after = Param(0, low=0, high=1000, step=100)
    hold = Param(100, low=100, high=1000, step=100)
    direction = Param("long", choices=("long", "skip", "late"), doc="when to enter")
    trade = Param(True, doc="trade at all")

    def on_start(self):
        self.seen = 0
        self.entered_at = -1

    def on_trade(self, i, price, size, side, ts):
        number = self.seen
        self.seen += 1
        if not self.trade or self.direction == "skip":
            return
        enter = self.enter_after + (200 if self.direction == "late" else 0)
        if self.entered_at < 0 and number == enter:
            self.entered_at = number
            self.ctx.buy(i, self.ctx.size_raw(i, 1_000_000.0 / price))
        elif self.entered_at >= 0 and number == self.entered_at + self.hold:
            self.ctx.close_position(i)
'''


class Sides(Strategy):
    def on_start(self) -> None:
        self.seen: list[int] = []

    def on_trade(self, i: int, price: int, size: int, side: int, ts: int) -> None:
        self.seen.append(side)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[StrategyDesk]:
    desk = StrategyDesk(tmp_path)
    yield desk
    desk.close()


def test_callbacks_get_named_sides_with_the_old_values(desk: StrategyDesk) -> None:
    assert (Side.BUY, Side.SELL) == (0, 1)  # code comparing with 0 and 1 keeps working
    desk.runner.add(Sides, {}, [BTC], strategy_id="sides")
    desk.trade(BID, 50_000_000)  # a buyer took the ask
    desk.trade(ASK, 49_990_000)
    strategy = desk.runner.strategy("sides")
    assert strategy.seen == [Side.BUY, Side.SELL]  # type: ignore[attr-defined]
    assert all(type(side) is int for side in strategy.seen)  # type: ignore[attr-defined]


def test_boolean_and_categorical_parameters_are_validated() -> None:
    flag = Param(True)
    mode = Param("fast", choices=("fast", "slow", 3))
    assert (flag.kind, mode.kind, Param(1.5).kind) == ("boolean", "categorical", "numeric")
    assert flag.validate("flag", False) is False
    assert mode.validate("mode", "slow") == "slow" and mode.validate("mode", 3) == 3
    for param, value, message in (
        (flag, 1, "parameter flag: 1 is not true or false"),
        (mode, "medium", "parameter mode: 'medium' is not one of 'fast', 'slow', 3"),
        (mode, 3.0, "is not one of"),
        (mode, True, "is not one of"),
        (Param(1.5), float("nan"), "is not a finite number"),
    ):
        with pytest.raises(ValueError, match=message):
            param.validate("flag" if param is flag else "mode", value)


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ('Param("fast")', "is text: declare its choices"),
        ('Param("x", choices=("a", "b"))', "the default is not among the choices"),
        ("Param(True, low=0)", "takes no low, high or step"),
        ('Param("a", choices=())', "choices must be a non-empty tuple"),
        ('Param("a", choices=("a", "a"))', "choices repeat a value"),
        ('Param("a", choices=("a", object()))', "is not text, a number or true/false"),
    ],
)
def test_bad_declarations_of_the_new_kinds_are_refused_at_load(
    tmp_path: Path, declaration: str, message: str
) -> None:
    path = tmp_path / "bad.py"
    path.write_text(
        f"from engine.strategy.api import Param, Strategy\n\n\nclass B(Strategy):\n"
        f"    x = {declaration}\n"
    )
    with pytest.raises(StrategyLoadError, match=message) as caught:
        load_strategy_class(path)
    assert str(caught.value).startswith(f"{path}:5: B.x: ")


def test_the_engine_takes_and_shows_the_new_kinds(tmp_path: Path) -> None:
    path = tmp_path / "swing.py"
    path.write_text(SWING)
    cls = load_strategy_class(path)
    assert check_params(cls, {"direction": "late", "trade": False}) == {
        "direction": "late",
        "trade": False,
    }
    with pytest.raises(ValueError, match="'sideways' is not one of 'long', 'skip', 'late'"):
        check_params(cls, {"direction": "sideways"})
    infos = {info.name: info for info in param_infos(cls, {"direction": "skip"})}
    assert infos["direction"].value == "skip" and infos["trade"].value is True
    row = StrategyInfo(id="s", name="ChoosySwing", file="swing.py", instruments=[], state="enabled")
    row.params = list(infos.values())
    assert msgspec.json.decode(msgspec.json.encode(row), type=StrategyInfo) == row


def test_the_space_searches_flags_and_choices_unordered() -> None:
    declared = {
        "n": Param(2, low=1, high=3),
        "flag": Param(False),
        "mode": Param("a", choices=("a", "b", "c")),
        "one": Param("only", choices=("only",)),
    }
    space = build_space(declared, {})
    assert space.dimensions == (
        Dimension("n", (1, 2, 3)),
        Dimension("flag", (False, True), ordered=False),
        Dimension("mode", ("a", "b", "c"), ordered=False),
    )
    assert space.fixed == {"one": "only"} and space.size == 18
    fixed = build_space(declared, {"flag": "true", "mode": "c"})
    assert fixed.fixed == {"flag": True, "mode": "c", "one": "only"}
    with pytest.raises(ValueError, match="--param mode: 'd' is not one of a, b, c"):
        build_space(declared, {"mode": "d"})
    with pytest.raises(ValueError, match="--param flag: 'yes' is not one of false, true"):
        build_space(declared, {"flag": "yes"})


def _space() -> SearchSpace:
    return SearchSpace(
        (
            Dimension("n", tuple(range(10))),
            Dimension("flag", (False, True), ordered=False),
            Dimension("mode", ("a", "b", "c", "d", "e"), ordered=False),
        ),
        {},
    )


def test_grid_random_and_genetic_search_cover_and_find_choices() -> None:
    space = _space()
    grid: list[tuple[int, ...]] = []
    search = GridSearch(space)
    while (batch := search.ask()) is not None:
        grid += batch
    assert len(set(grid)) == space.size == 100
    drawn = RandomSearch(space, 30, seed=3).ask()
    assert drawn is not None and len(set(drawn)) == 30

    def fitness(point: tuple[int, ...]) -> float:
        params = space.params(point)
        return (
            float(params["n"])
            + (20 if params["flag"] else 0)
            + (50 if params["mode"] == "d" else 0)
        )

    genetic = GeneticSearch(space, population=12, seed=5, patience=6)
    rng = random.Random(0)
    while (asked := genetic.ask()) is not None and genetic.generation < 40:
        rng.shuffle(asked)
        genetic.tell({point: fitness(point) for point in asked})
    assert genetic.best is not None
    assert space.params(genetic.best[1]) == {"n": 9, "flag": True, "mode": "d"}


@pytest.mark.parametrize("method", ["grid", "random", "ga"])
def test_a_study_searches_a_categorical_and_a_boolean_parameter(
    tmp_path: Path, method: str
) -> None:
    ticks = write_optimum_dataset(tmp_path / "ticks")
    path = tmp_path / "swing.py"
    path.write_text(SWING)
    spec = StudySpec(
        strategy_file=str(path),
        data_dir=str(ticks),
        method=method,
        objective="total_return",
        trials=6,
        seed=7,
        population=6,
        patience=3,
        overrides={name: str(value) for name, value in BEST.items()},
    )
    space = space_of(spec, load_strategy_class(path))
    assert [d.name for d in space.dimensions] == ["direction", "trade"]
    study = Study.open(tmp_path, method, spec)
    executor = LocalExecutor(spec, Settings(), 1)
    try:
        report = run_study(study, space, executor)
    finally:
        executor.close()
    study.close(report.state)
    assert report.best is not None
    assert report.best.params["direction"] == "long" and report.best.params["trade"] is True
    stored = {record.key: record.params for record in read_trials(tmp_path, method)}
    assert {params["direction"] for params in stored.values()} <= {"long", "skip", "late"}
    assert all(isinstance(params["trade"], bool) for params in stored.values())

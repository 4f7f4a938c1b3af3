"""Search methods: which parameter sets to try next, given the scores so far.

Each method is ask/tell: :meth:`ask` returns the next batch of points (index tuples into the
:class:`~engine.optimize.space.SearchSpace`) or None when done; :meth:`tell` gets every point's
fitness (higher is better; ``-inf`` for infeasible). All randomness comes from one
``random.Random(seed)``, consumed the same way whatever the scores' order of arrival, and ties
are broken by point, so a seed fixes the whole trajectory; a resumed study replays it from
stored scores.

- :class:`GridSearch`: every point, in batches.
- :class:`RandomSearch`: ``trials`` distinct points drawn uniformly.
- :class:`GeneticSearch`: a population evolved by tournament selection, uniform crossover,
  mutation (a step or two along an ordered dimension, sometimes a fresh random value; always a
  fresh value for a boolean or categorical one) and elitism; stops after ``patience``
  generations without a better best, or when the budget is spent.
"""

from __future__ import annotations

import random
from typing import Protocol

from engine.optimize.space import SearchSpace

Point = tuple[int, ...]

GRID_BATCH = 512
TOURNAMENT = 3
CROSSOVER_RATE = 0.9


class Search(Protocol):
    def ask(self) -> list[Point] | None: ...
    def tell(self, fitness: dict[Point, float]) -> None: ...


class GridSearch:
    """Every point of the space, the last parameter varying fastest."""

    def __init__(self, space: SearchSpace) -> None:
        self._points = list(space.grid())
        self._next = 0

    def ask(self) -> list[Point] | None:
        if self._next >= len(self._points):
            return None
        batch = self._points[self._next : self._next + GRID_BATCH]
        self._next += len(batch)
        return batch

    def tell(self, fitness: dict[Point, float]) -> None:
        pass


class RandomSearch:
    """``trials`` distinct points (all of them when the space is smaller)."""

    def __init__(self, space: SearchSpace, trials: int, seed: int) -> None:
        rng = random.Random(seed)
        if trials >= space.size:
            points = list(space.grid())
            rng.shuffle(points)
        else:
            chosen = rng.sample(range(space.size), trials)
            sizes = [len(d.values) for d in space.dimensions]
            points = [_unflatten(number, sizes) for number in chosen]
        self._points: list[Point] | None = points

    def ask(self) -> list[Point] | None:
        points, self._points = self._points, None
        return points

    def tell(self, fitness: dict[Point, float]) -> None:
        pass


class GeneticSearch:
    """A genetic algorithm over the space's index grid (see the module docstring)."""

    def __init__(
        self, space: SearchSpace, *, population: int, seed: int, patience: int, elite: int = 0
    ) -> None:
        if population < 2:
            raise ValueError(f"population must be at least 2, got {population}")
        if patience < 1:
            raise ValueError(f"patience must be at least 1, got {patience}")
        self.sizes = [len(d.values) for d in space.dimensions]
        self.ordered = [d.ordered for d in space.dimensions]
        self.population_size = population
        self.patience = patience
        self.elite = elite or max(1, population // 10)
        self.rng = random.Random(seed)
        self.generation = 0
        self.best: tuple[float, Point] | None = None
        self.stale = 0
        self.stopped = ""
        """Why the search ended early (empty while it goes on)."""
        self.history: list[tuple[list[Point], Point | None, float]] = []
        """Per generation: its points, then the best point and fitness so far."""
        self._population = [self._random_point() for _ in range(population)]
        self._asked: list[Point] | None = None

    def ask(self) -> list[Point] | None:
        if self.stopped:
            return None
        self._asked = list(self._population)
        return self._asked

    def tell(self, fitness: dict[Point, float]) -> None:
        assert self._asked is not None, "tell() before ask()"
        scored = sorted(
            ((fitness[point], point) for point in self._asked), key=lambda x: (-x[0], x[1])
        )
        leader = scored[0]
        if self.best is None or leader[0] > self.best[0]:
            self.best, self.stale = leader, 0
        else:
            self.stale += 1
        self.history.append((self._asked, self.best[1], self.best[0]))
        self.generation += 1
        if self.stale >= self.patience:
            self.stopped = f"no better result in {self.patience} generations"
            return
        elites = [point for _, point in scored[: self.elite]]
        children = list(elites)
        while len(children) < self.population_size:
            mother = self._tournament(scored)
            father = self._tournament(scored)
            child = self._crossover(mother, father)
            children.append(self._mutate(child))
        self._population = children
        self._asked = None

    # --- operators ----------------------------------------------------------------------------

    def _random_point(self) -> Point:
        return tuple(self.rng.randrange(size) for size in self.sizes)

    def _tournament(self, scored: list[tuple[float, Point]]) -> Point:
        picks = [scored[self.rng.randrange(len(scored))] for _ in range(TOURNAMENT)]
        return min(picks, key=lambda x: (-x[0], x[1]))[1]

    def _crossover(self, mother: Point, father: Point) -> Point:
        if self.rng.random() >= CROSSOVER_RATE:
            return mother
        return tuple(
            m if self.rng.random() < 0.5 else f for m, f in zip(mother, father, strict=True)
        )

    def _mutate(self, point: Point) -> Point:
        rate = 1.0 / max(1, len(point))
        genes = list(point)
        for gene, size in enumerate(self.sizes):
            if self.rng.random() >= rate:
                continue
            if self.ordered[gene] and self.rng.random() < 0.75:
                # A small step keeps good regions; a random reset explores.
                delta = self.rng.choice((-2, -1, 1, 2))
                genes[gene] = min(size - 1, max(0, genes[gene] + delta))
            else:
                genes[gene] = self.rng.randrange(size)
        return tuple(genes)


def _unflatten(number: int, sizes: list[int]) -> Point:
    indexes = []
    for size in reversed(sizes):
        number, index = divmod(number, size)
        indexes.append(index)
    return tuple(reversed(indexes))

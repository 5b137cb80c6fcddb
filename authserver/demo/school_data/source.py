"""The one random source of a seeding: `random.Random` and Faker, seeded together."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from faker import Faker


class Source:
    """Every random choice of one school's data; steps draw from it in a fixed order."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fake = Faker("en_GB")
        self.fake.seed_instance(seed)

    def chance(self, probability: float) -> bool:
        """True with the given probability."""
        return self.rng.random() < probability

    def weighted(self, options: Sequence[tuple[Any, ...]]) -> tuple[Any, ...]:
        """One option, chosen by the weight in its last position."""
        return self.rng.choices(options, weights=[o[-1] for o in options])[0]

    def sample(self, population: Sequence[Any], fraction: float, minimum: int = 1) -> list[Any]:
        """A share of the population (at least `minimum`, where there are enough)."""
        size = min(len(population), max(minimum, round(len(population) * fraction)))
        return self.rng.sample(list(population), size)

    def first_name(self, female: bool) -> str:
        """A first name for a woman or a man."""
        return self.fake.first_name_female() if female else self.fake.first_name_male()

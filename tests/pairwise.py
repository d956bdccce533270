"""All-pairs (pairwise) selection of option combinations: a few cases in which every value
of every factor meets every value of every other factor at least once, rather than the
full product. Most bugs of combined options need two options to meet; the product of six
two-valued options is 64 runs, its pairs are covered by 6 to 8."""

from __future__ import annotations

from itertools import combinations
from typing import Hashable


def all_pairs(factors: dict[str, list[Hashable]]) -> list[dict[str, Hashable]]:
    """Cases (factor name -> value) covering every pair of values of two factors; greedy
    (each case starts from a pair not yet covered and takes, factor by factor, the value
    that covers most new pairs), deterministic for the same ``factors``."""
    names = list(factors)

    def pair(first: str, first_value: Hashable, second: str, second_value: Hashable) -> tuple:
        ordered = sorted([(first, first_value), (second, second_value)], key=lambda item: names.index(item[0]))
        return tuple(ordered)

    uncovered = {pair(first, first_value, second, second_value) for first, second in combinations(names, 2)
                 for first_value in factors[first] for second_value in factors[second]}
    cases: list[dict[str, Hashable]] = []
    while uncovered:
        (first, first_value), (second, second_value) = min(uncovered, key=repr)
        case = {first: first_value, second: second_value}
        for name in names:
            if name not in case:
                case[name] = max(factors[name], key=lambda value: sum(
                    pair(chosen, case[chosen], name, value) in uncovered for chosen in case))
        uncovered -= {pair(first, case[first], second, case[second]) for first, second in combinations(names, 2)}
        cases.append({name: case[name] for name in names})
    return cases

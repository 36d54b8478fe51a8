"""Statistics by region (`yiwang.stats.aggregates.rolled_up`): counts kept under the accepting
region roll up the tree, each region's row holding its own and every region's below it, in the
tree's order; a query under a region leaves out what lies elsewhere."""

from __future__ import annotations

from yiwang.stats.aggregates import COUNTERS, rolled_up


def counts(count: int, completed: int = 0) -> dict[str, int]:
    return {**dict.fromkeys(COUNTERS, 0), "count": count, "completed": completed}


SUMS = {"440106001001": counts(2, 1), "440106": counts(1), "440104": counts(4, 2),
        "440100": counts(3), "440304": counts(5)}


def test_counts_roll_up_the_tree_in_its_order() -> None:
    rows = rolled_up(SUMS, None)
    assert [(code, c["count"]) for code, c in rows] == [
        ("440000", 15), ("440100", 10), ("440300", 5), ("440104", 4), ("440106", 3),
        ("440304", 5), ("440106001", 2), ("440106001001", 2)]
    assert dict(rows)["440100"]["completed"] == 3


def test_under_a_region_only_what_lies_there() -> None:
    rows = rolled_up(SUMS, "440106")
    assert [(code, c["count"]) for code, c in rows] == [
        ("440106", 3), ("440106001", 2), ("440106001001", 2)]

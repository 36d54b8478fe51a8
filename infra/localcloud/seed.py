"""Sample data for a local platform: what a person needs to click through the flows.

Each piece of the platform that has sample data adds its loader to `LOADERS`.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str], None]
LOADERS: list[tuple[str, Callable[[dict[str, str]], int]]] = []


def seed(outputs: dict[str, str], progress: Progress = print) -> None:
    """Run every loader against the deployed stack."""
    if not LOADERS:
        progress("no sample data to seed yet")
    for name, load in LOADERS:
        progress(f"seeded {load(outputs)} {name}")

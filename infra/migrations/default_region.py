"""Place the records made before the region tree (行政区划) in the platform's default region.

    python -m infra.migrations.default_region [--endpoint URL] [--table NAME] [--page-size N]

Records of five kinds carry a region: departments (`DEPT#<code>`, with its level), applications
(`APP#<id>`), complaints (`COMPLAINT#<id>`), ratings (`RATING#<id>`) and urgings
(`URGING#<id>`), each at sort key `META`. The platform already reads a missing region as the
default one (`yiwang.regions.tree.default_region`); this writes it down, so that the records
are indexed and shown as they are read. Cards and clocks carry no region of their own: they are
placed by their subject's.

A one-off, so a paginated Scan (never on a request path) of the META records without a region.
Each record is placed by one transaction: a conditional update (`region` still absent, the
record still there: a region set meanwhile is never overwritten) and its audit record
(`REGION_PLACED`, 全程留痕). Running it again places nothing: it is idempotent. It prints what
it placed and skipped, by kind.

Without `--endpoint`/`--table` it uses the environment (`AWS_ENDPOINT_URL`, `TABLE_NAME`), and
failing that the local stack's recorded outputs (`.local/outputs.json`, `make run`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

ACTOR = "migration:default-region"
EVENT = "REGION_PLACED"
KINDS = {"DEPT": "departments", "APP": "applications", "COMPLAINT": "complaints",
         "RATING": "ratings", "URGING": "urgings"}
"""Partition prefixes of the records that carry a region, and their names in the report."""
DEFAULT_PAGE_SIZE = 100


@dataclass
class Report:
    """What a run did: records placed and skipped (a region set meanwhile), by kind."""

    placed: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    region: str = ""

    def lines(self) -> list[str]:
        return [f"{name}: {self.placed[name]} placed in {self.region}, "
                f"{self.skipped[name]} skipped" for name in KINDS.values()]


def run(page_size: int = DEFAULT_PAGE_SIZE, progress: Callable[[str], None] = print) -> Report:
    """Place every region-less record of `KINDS` in the default region (see the module)."""
    from yiwang.regions import tree

    region = tree.get(tree.default_region())
    report = Report(region=region.code)
    for record in _unplaced(page_size):
        kind = KINDS[record.pk.partition("#")[0]]
        if _place(record, region.code, region.level):
            report.placed[kind] += 1
        else:
            report.skipped[kind] += 1
        done = sum(report.placed.values()) + sum(report.skipped.values())
        if done % 500 == 0:
            progress(f"... {done} records")
    return report


def _model() -> Any:
    """A projection of any record: key, region and (a department's) level; defined on first
    use, once `yiwang` is on the path."""
    from pynamodb.attributes import UnicodeAttribute

    from yiwang.regions.placement import PlacedRecord

    global _Placeable
    if _Placeable is None:
        class Placeable(PlacedRecord):
            level = UnicodeAttribute(null=True)

        _Placeable = Placeable
    return _Placeable


_Placeable: Any = None


def _unplaced(page_size: int) -> Iterator[Any]:
    """The META records of `KINDS` without a region, a page of `page_size` at a time."""
    model = _model()
    kinds = [model.pk.startswith(f"{prefix}#") for prefix in KINDS]
    any_kind = kinds[0]
    for condition in kinds[1:]:
        any_kind = any_kind | condition
    found = model.scan((model.sk == "META") & model.region.does_not_exist() & any_kind,
                       page_size=page_size, attributes_to_get=["pk", "sk"])
    # `APP#<id>#CLOCKS` and the like are a record's trail, not the record.
    yield from (record for record in found if record.pk.count("#") == 1)


def _place(record: Any, region: str, level: str) -> bool:
    """Set the record's region (a department's level too) with its audit record, if it still
    has none; False when a region was set meanwhile (or the record is gone)."""
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    from yiwang.table.records import connection, new_audit_for

    model = _model()
    actions = [model.region.set(region)]
    if record.pk.startswith("DEPT#"):
        actions.append(model.level.set(level))
    detail = {"region": region, **({"level": level} if len(actions) > 1 else {})}
    try:
        with TransactWrite(connection=connection()) as transaction:
            transaction.update(record, actions=actions,
                               condition=model.pk.exists() & model.region.does_not_exist())
            transaction.save(new_audit_for(record.pk, ACTOR, EVENT, None, None, detail))
    except TransactWriteError as error:
        if error.cause_response_code == "TransactionCanceledException" and any(
                reason and reason.code == "ConditionalCheckFailed"
                for reason in error.cancellation_reasons or []):
            return False
        raise
    return True


def bind(endpoint: str | None, table: str | None) -> None:
    """Point `yiwang` at the table: the arguments, else the environment, else the local
    stack's recorded outputs."""
    if endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
    if table:
        os.environ["TABLE_NAME"] = table
    if not os.environ.get("TABLE_NAME"):
        from infra.localcloud import deploy, seed

        seed.bind_environment(deploy.read_outputs())
        if endpoint:
            os.environ["AWS_ENDPOINT_URL"] = endpoint
    layer = os.path.join(os.path.dirname(__file__), "..", "..", "layers")
    if os.path.abspath(layer) not in map(os.path.abspath, sys.path):
        sys.path.append(os.path.abspath(layer))
    from yiwang.platform.config import settings

    settings.cache_clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.migrations.default_region",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", help="the DynamoDB endpoint (default: AWS's, or "
                                           "AWS_ENDPOINT_URL, or the local stack's)")
    parser.add_argument("--table", help="the table (default: TABLE_NAME, or the local stack's)")
    parser.add_argument("--page-size", type=int, default=DEFAULT_PAGE_SIZE)
    args = parser.parse_args(argv)
    bind(args.endpoint, args.table)
    report = run(args.page_size)
    for line in report.lines():
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

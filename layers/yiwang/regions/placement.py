"""Where records lie in the region tree (属地), read for many at once.

A region-scoped list whose rows do not carry their region (a supervisor's cards, which hang on
the clock of an application, complaint, rating or urging) reads the `region` of each row's
subject with one BatchGetItem per 100 subjects, projecting the key and the region only: the
subject's partition `<KIND>#<id>`, sort key `META`. A subject without a region (made before
regions existed, or of a kind that has none) lies in the platform's default region.
"""

from __future__ import annotations

from collections.abc import Iterable

from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

from yiwang.regions import tree
from yiwang.table.records import TableMeta


class PlacedRecord(Model):
    """Any record's key and region (a projection: nothing else is read)."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    region = UnicodeAttribute(null=True)


def regions_of(partitions: Iterable[str]) -> dict[str, str]:
    """The region of the record at (`partition`, `META`) for each partition, by partition."""
    wanted = list(dict.fromkeys(partitions))
    found = dict.fromkeys(wanted, tree.default_region())
    if wanted:
        for record in PlacedRecord.batch_get([(pk, "META") for pk in wanted],
                                             attributes_to_get=["pk", "sk", "region"]):
            found[record.pk] = record.region or tree.default_region()
    return found

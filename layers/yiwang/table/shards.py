"""Write-sharded partition keys: one logical partition spread over a fixed number of keys.

A DynamoDB partition (of the table or of a global secondary index) serves at most about 1,000
write units a second, and a GSI partition that cannot keep up throttles the table's writes. A
key every clock, every application in one status or every statistics event writes to is
therefore the platform's ceiling. Such a key gets a shard suffix, `<prefix>#07`, the shard
derived from the writer's own id (a hash of it, so the same id always lands in the same shard
and an update keeps its item where it is); the writes spread evenly over the shards and a reader
queries every shard and merges (or sums) what they hold.
"""

from __future__ import annotations

import hashlib

SHARDS = 16
"""Shards of each sharded key: 16 partitions take 16,000 writes a second, more than a
province's peak of 1,000 applications a second writes to any one of these keys."""


def shard_of(identifier: str, shards: int = SHARDS) -> int:
    """The shard (0 to `shards` - 1) of `identifier`, the same on every call and machine.

    MD5 (not for security) mixes every bit of the id into the shard: CRC-32's low bits follow
    a few characters of ids that differ only in a counter, and left some shards empty."""
    digest = hashlib.md5(identifier.encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big") % shards


def sharded(prefix: str, identifier: str, shards: int = SHARDS) -> str:
    """The key of `identifier`'s shard of `prefix`: `CLOCK#07`."""
    return f"{prefix}#{shard_of(identifier, shards):02d}"


def all_shards(prefix: str, shards: int = SHARDS) -> list[str]:
    """Every shard's key of `prefix`, in shard order."""
    return [f"{prefix}#{shard:02d}" for shard in range(shards)]

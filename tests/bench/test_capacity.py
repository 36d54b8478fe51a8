"""The capacity model's arithmetic (`bench.capacity`), on a small made-up profile."""

from __future__ import annotations

import math
from typing import Any

import pytest

from bench import capacity

PROFILE: dict[str, Any] = {
    "measured": "2026-12-02", "application": "test", "apiRequests": 30, "apiSeconds": 1.5,
    "transitions": 40, "lambdaInvocations": 10, "lambdaGbSeconds": 2.0, "lambdaSeconds": 8.0,
    "readUnits": 100.0, "writeUnits": 60.0,
    "calls": {"kms": {"Sign": 1, "Verify": 1}, "stepfunctions": {"StartExecution": 1,
                                                                  "SendTaskSuccess": 6},
              "sns": {"Publish": 4}, "s3": {"PutObject": 5, "GetObject": 2},
              "dynamodb": {"PutItem": 20, "UpdateItem": 10, "Query": 30}},
}


def by_name(rows: list[capacity.Row]) -> dict[str, capacity.Row]:
    return {row.quota.name: row for row in rows}


def test_demand_is_count_times_rate_times_peak_factor() -> None:
    rows = by_name(capacity.rows(PROFILE, rate=100, peak_factor=1.5))
    assert rows["API requests"].per_second == 30 * 100 * 1.5
    assert rows["state transitions (Standard)"].per_second == 40 * 150
    assert rows["Sign/Verify (ECC keys, shared)"].per_application == 2
    assert rows["Sign/Verify (ECC keys, shared)"].per_second == 300  # exactly the quota
    assert rows["Sign/Verify (ECC keys, shared)"].headroom == 1.0
    # Function seconds per application (the API's included) are concurrency per app/s.
    assert rows["concurrent executions"].per_second == pytest.approx(9.5 * 150)
    # A prefix takes one application's uploads, whatever the rate.
    assert rows["PUT-class requests per prefix"].per_second == 5 * 1.5
    assert rows["Publish"].per_second == 4 * 150
    assert rows["SendTaskFailure"].headroom == math.inf


def test_the_first_bottleneck_is_the_least_headroom() -> None:
    rows = capacity.rows(PROFILE, rate=1000, peak_factor=1.0)
    first = capacity.bottleneck(rows)
    # Transitions: 40,000/s against 1,500 (0.0375x); KMS: 2,000 against 300 (0.15x).
    assert first.quota.name == "state transitions (Standard)"
    assert first.headroom == pytest.approx(1500 / 40_000)
    assert all(row.headroom >= first.headroom for row in rows)


def test_hottest_partitions_scale_only_the_keys_every_application_writes() -> None:
    heat = {"n": 200, "writes": [
        {"target": "DueIndex", "hottestShare": 0.08, "top": [["CLOCK#07", 160]]},
        {"target": "table", "hottestShare": 0.06, "top": [["APP#YW1", 80]]}]}
    due, table = capacity.hottest_partitions(heat, rate=1000, peak_factor=1.5,
                                             units_per_write=2.0)
    assert due.grows_with_rate and due.writes_per_application == 0.8
    assert due.write_units_per_second == pytest.approx(0.8 * 1000 * 1.5 * 2)
    assert not table.grows_with_rate and table.write_units_per_second == 0


def test_units_per_write_and_cost() -> None:
    assert capacity.units_per_write(PROFILE) == 2.0  # 60 units over 30 writes
    assert capacity.units_per_write({**PROFILE, "writeUnits": 3.0}) == 1.0  # at least one
    costs = capacity.cost_per_application(PROFILE)
    assert costs["Step Functions"] == pytest.approx(40 * 0.025 / 1000)
    assert costs["DynamoDB"] == pytest.approx(60 * 0.625e-6 + 100 * 0.125e-6)
    # A transaction writes two items or more at two units each: a floor under the measure.
    transacting = {**PROFILE, "calls": {**PROFILE["calls"], "dynamodb": {
        "PutItem": 2, "TransactWriteItems": 20}}}
    assert capacity.write_units(transacting) == 2 + 4 * 20
    assert capacity.write_units(PROFILE) == 60.0
    assert costs["KMS"] == pytest.approx(2 * 0.15 / 10_000)
    assert costs["S3"] == pytest.approx(5 * 0.005 / 1000 + 2 * 0.0004 / 1000)


def test_volume_and_the_plans_fleet() -> None:
    assert capacity.yearly_volume(1000, 0.02) == 1000 * 0.02 * 365 * 24 * 3600
    assert sum(count for _, count, _, _ in capacity.FLEET) == 14  # the annex's 14 servers
    assert capacity.fleet_monthly() == pytest.approx(730 * (3 * 0.68 + 5 * 2.72 + 6 * 1.36))


def test_the_report_names_the_bottleneck_and_every_quota_source() -> None:
    text = capacity.report(PROFILE, None, rate=1000, peak_factor=1.5, average_share=0.02)
    assert "first bottleneck: Step Functions state transitions (Standard)" in text
    assert all(quota.source in text for quota in capacity.QUOTAS.values())

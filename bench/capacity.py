"""`make scale RATE=1000` (python -m bench scale --rate 1000): the capacity model.

Fed with measured counts, not guesses: `bench/application_profile.json` is what one
construction-permit application (three departments, a fee, courier delivery) cost on the local
cloud (`python -m bench lifecycle --profile bench/application_profile.json` measures it again):
AWS calls by service and API, API requests, state transitions, Lambda invocations and seconds,
DynamoDB capacity units. `bench/heat_profile.json` is the partition heat of N applications
(`python -m bench heat --n 200 --out bench/heat_profile.json`).

At RATE applications a second (a province's Monday-morning peak: 1,000 by default), every
per-application count arrives at RATE x count a second (each application makes its requests
once, over its life; at a steady rate all of them are in flight at once), times the peak factor
(bursts within the peak). Each is set against AWS's default quota for the account and Region
(us-east-1), cited by the AWS documentation page and section that publishes it. The row with
the least headroom is the first bottleneck; each row says what to do about it.

Then the hottest partition: the hottest key's writes per application (from the heat profile)
at that rate, against the 1,000 write units a second one DynamoDB partition serves. And the
month's bill at a year's volume against the fixed fleet the Yichun plan's deployment annex
lists (《宜春市一体化在线政务服务平台建设实施方案》, 宜府办字〔2019〕11号, annex 2: 14 servers
for the electronic-certificate system), priced as on-demand EC2 of the same cores and memory.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROFILE = HERE / "application_profile.json"
HEAT_PROFILE = HERE / "heat_profile.json"
PARTITION_WRITE_UNITS = 1000
PARTITION_READ_UNITS = 3000
"""One DynamoDB partition's throughput (Amazon DynamoDB Developer Guide, "Partitions and data
distribution" / "Burst and adaptive capacity"), for the table and for each GSI."""


@dataclass(frozen=True)
class Quota:
    """An AWS default quota (per second, account and Region) and where it is published."""

    service: str
    name: str
    per_second: float
    source: str
    advice: str


KMS_DOC = ("AWS KMS Developer Guide, \"Request quotas\" "
           "(docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html)")
SFN_DOC = ("AWS Step Functions Developer Guide, \"Step Functions service quotas\" "
           "(docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html)")
QUOTAS: dict[str, Quota] = {q.name: q for q in [
    Quota("API Gateway", "API requests", 10_000,
          "Amazon API Gateway Developer Guide, \"Amazon API Gateway quotas\": throttle quota "
          "per account, per Region across REST, HTTP and WebSocket APIs, 10,000 requests per "
          "second (burst 5,000)",
          "request an account-level throttle increase through Service Quotas"),
    Quota("Lambda", "concurrent executions", 1_000,
          "AWS Lambda Developer Guide, \"Lambda quotas\": concurrent executions, 1,000 per "
          "Region",
          "request a concurrency increase (tens of thousands are granted routinely); keep "
          "functions short"),
    Quota("Step Functions", "state transitions (Standard)", 1_500,
          f"{SFN_DOC}, \"Quotas related to state throttling\": StateTransition, Standard, "
          "us-east-1: bucket 5,000, refill 1,500 a second",
          "request a StateTransition increase; move the synchronous steps (pre-review, "
          "outcome, payment order) into one Lambda step or an Express child workflow"),
    Quota("Step Functions", "StartExecution", 300,
          f"{SFN_DOC}, \"Quotas related to API action throttling\": StartExecution, Standard, "
          "us-east-1: bucket 1,300, refill 300 a second",
          "request a StartExecution increase before go-live; submissions beyond it queue "
          "(SQS in front of StartExecution) rather than fail"),
    Quota("Step Functions", "SendTaskSuccess", 500,
          f"{SFN_DOC}, \"Other quotas\": SendTaskSuccess, us-east-1: bucket 3,000, refill 500 "
          "a second",
          "request a SendTaskSuccess increase; decisions and callbacks beyond it retry"),
    Quota("Step Functions", "SendTaskFailure", 500,
          f"{SFN_DOC}, \"Other quotas\": SendTaskFailure, us-east-1: bucket 3,000, refill 500 "
          "a second", "request a SendTaskFailure increase"),
    Quota("KMS", "Sign/Verify (ECC keys, shared)", 300,
          f"{KMS_DOC}: cryptographic operations on ECC KMS keys share 300 requests a second "
          "(RSA keys 500, symmetric keys 10,000 and more)",
          "request an increase of 'Cryptographic operations (ECC) request rate'; or sign "
          "with several keys (a key per department or per shard, each certificate naming "
          "its key), or sign a batch's Merkle root once per second instead of each "
          "certificate, or sign in an HSM fleet (CloudHSM) sized for the peak"),
    Quota("KMS", "symmetric (Decrypt, GenerateDataKey...)", 10_000,
          f"{KMS_DOC}: cryptographic operations on symmetric keys share 10,000 a second "
          "(more in the largest Regions)",
          "keep S3 Bucket Keys on; request an increase"),
    Quota("SNS", "Publish", 30_000,
          "Amazon SNS, AWS General Reference \"Amazon SNS endpoints and quotas\": Publish, "
          "30,000 messages a second in us-east-1",
          "publish in batches (PublishBatch, 10 a call) and request an increase"),
    Quota("DynamoDB", "table write units (on-demand)", 40_000,
          "Amazon DynamoDB Developer Guide, \"Service, account, and table quotas\": "
          "per-table throughput of an on-demand table, 40,000 write request units a second",
          "request a table-level throughput quota increase; warm the table (pre-create "
          "partitions) before go-live"),
    Quota("DynamoDB", "table read units (on-demand)", 40_000,
          "Amazon DynamoDB Developer Guide, \"Service, account, and table quotas\": "
          "per-table throughput of an on-demand table, 40,000 read request units a second",
          "request a table-level throughput quota increase; eventually consistent reads cost "
          "half"),
    Quota("S3", "PUT-class requests per prefix", 3_500,
          "Amazon S3 User Guide, \"Best practices design patterns: optimizing Amazon S3 "
          "performance\": 3,500 PUT/COPY/POST/DELETE a second per partitioned prefix",
          "keys already start with the application id (a prefix per application): S3 "
          "partitions them as load grows; ask AWS to pre-partition for a sudden launch"),
]}

# AWS list prices, us-east-1 (USD), for the month's bill.
PRICES = {
    "transition": 0.025 / 1000, "lambda_request": 0.20 / 1e6, "gb_second": 0.0000166667,
    "write_unit": 0.625 / 1e6, "read_unit": 0.125 / 1e6, "s3_put": 0.005 / 1000,
    "s3_get": 0.0004 / 1000, "api_request": 3.50 / 1e6, "kms_asymmetric": 0.15 / 10_000,
    "kms_symmetric": 0.03 / 10_000, "sns_publish": 0.50 / 1e6, "sqs_request": 0.40 / 1e6,
}
S3_PUT = {"PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
          "CopyObject", "ListObjectsV2"}

# The plan's annex 2, section 2 (electronic-certificate system, city level): 14 servers.
# Priced as on-demand EC2 (us-east-1, Linux) with two vCPUs per physical core and at least the
# memory: 8 cores/16 GB -> c6i.4xlarge, 16 cores/64 GB -> c6i.8xlarge, 32 cores/128 GB ->
# c6i.16xlarge.
FLEET = [
    ("proxy servers, 8 cores 16 GB", 3, "c6i.4xlarge", 0.68),
    ("database servers, 32 cores 128 GB", 2, "c6i.16xlarge", 2.72),
    ("application servers, 16 cores 64 GB", 6, "c6i.8xlarge", 1.36),
    ("NoSQL servers, 32 cores 128 GB", 3, "c6i.16xlarge", 2.72),
]
HOURS_PER_MONTH = 730
ONE_SUBJECT = re.compile(r"^(APP|APPLICANT|COMPLAINT|RATING|CERT|CERTHOLDER|ORDER)#")
"""Partition keys that belong to one application, applicant or case."""


@dataclass(frozen=True)
class Row:
    """One service's demand at the rate against its quota."""

    quota: Quota
    per_application: float
    per_second: float

    @property
    def headroom(self) -> float:
        """Quota over demand: below 1 the quota is exceeded."""
        return math.inf if self.per_second == 0 else self.quota.per_second / self.per_second


def calls(profile: dict[str, Any], service: str, *operations: str) -> float:
    """Calls per application to `service` (those `operations`, or all)."""
    made = profile["calls"].get(service, {})
    return float(sum(n for op, n in made.items() if not operations or op in operations))


DEMANDS: dict[str, Callable[[dict[str, Any]], float]] = {
    "API requests": lambda p: float(p["apiRequests"]),
    # Seconds of function time per application, the API's own included (it is a function).
    "concurrent executions": lambda p: float(p["lambdaSeconds"]) + float(p["apiSeconds"]),
    "state transitions (Standard)": lambda p: float(p["transitions"]),
    "StartExecution": lambda p: calls(p, "stepfunctions", "StartExecution"),
    "SendTaskSuccess": lambda p: calls(p, "stepfunctions", "SendTaskSuccess"),
    "SendTaskFailure": lambda p: calls(p, "stepfunctions", "SendTaskFailure"),
    "Sign/Verify (ECC keys, shared)": lambda p: calls(p, "kms", "Sign", "Verify"),
    "symmetric (Decrypt, GenerateDataKey...)": lambda p: calls(
        p, "kms", "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext"),
    "Publish": lambda p: calls(p, "sns", "Publish"),
    "table write units (on-demand)": lambda p: write_units(p),
    "table read units (on-demand)": lambda p: float(p["readUnits"]),
    # Per prefix: an application's uploads share its prefix, so one application's PUTs are
    # what a prefix takes at once; the account's total spreads over the prefixes.
    "PUT-class requests per prefix": lambda p: calls(p, "s3", *S3_PUT),
}


def rows(profile: dict[str, Any], rate: float, peak_factor: float) -> list[Row]:
    """Every quota's demand at `rate` applications a second times `peak_factor`."""
    found = []
    for name, quota in QUOTAS.items():
        each = DEMANDS[name](profile)
        per_second = each * peak_factor if name == "PUT-class requests per prefix" else (
            each * rate * peak_factor)
        found.append(Row(quota, each, per_second))
    return found


def bottleneck(found: list[Row]) -> Row:
    """The row with the least headroom."""
    return min(found, key=lambda row: row.headroom)


@dataclass(frozen=True)
class Partition:
    """The hottest key of a table or index at the rate."""

    target: str
    key: str
    writes_per_application: float
    write_units_per_second: float
    grows_with_rate: bool


def hottest_partitions(heat: dict[str, Any], rate: float, peak_factor: float,
                       units_per_write: float) -> list[Partition]:
    """Per table and index, the hottest key's write units a second at `rate`, from a heat
    profile of N applications. A key of one subject (an application's `APP#<id>`, an
    applicant's list) takes that subject's writes only, whatever the rate: `grows_with_rate`
    False. Any other key (a shard, a department's queue) is written by every application
    that passes it: its writes per application times the rate. (With a small N a shard's
    count is noisy: the hottest of 16 over-states the average one.)"""
    n = int(heat["n"])
    found = []
    for row in heat["writes"]:
        key, count = row["top"][0]
        per_application = count / n
        grows = not ONE_SUBJECT.match(key)
        found.append(Partition(row["target"], key, per_application if grows else count,
                               per_application * rate * peak_factor * units_per_write
                               if grows else 0.0, grows))
    return found


def cost_per_application(profile: dict[str, Any]) -> dict[str, float]:
    """USD per application, by service, at list prices."""
    s3_put = calls(profile, "s3", *S3_PUT)
    s3_all = calls(profile, "s3")
    kms_asym = calls(profile, "kms", "Sign", "Verify", "GetPublicKey")
    return {
        "Step Functions": profile["transitions"] * PRICES["transition"],
        "Lambda": (profile["lambdaInvocations"] + profile["apiRequests"])
        * PRICES["lambda_request"] + profile["lambdaGbSeconds"] * PRICES["gb_second"]
        + profile["apiSeconds"] * 0.25 * PRICES["gb_second"],  # the API's 256 MB
        "DynamoDB": write_units(profile) * PRICES["write_unit"]
        + profile["readUnits"] * PRICES["read_unit"],
        "API Gateway": profile["apiRequests"] * PRICES["api_request"],
        "S3": s3_put * PRICES["s3_put"] + (s3_all - s3_put) * PRICES["s3_get"],
        "KMS": kms_asym * PRICES["kms_asymmetric"]
        + (calls(profile, "kms") - kms_asym) * PRICES["kms_symmetric"],
        "SNS, SQS": calls(profile, "sns") * PRICES["sns_publish"]
        + calls(profile, "sqs") * PRICES["sqs_request"],
    }


def yearly_volume(rate: float, average_share: float) -> float:
    """Applications in a year whose average rate is `average_share` of the peak `rate`."""
    return rate * average_share * 365 * 24 * 3600


def fleet_monthly() -> float:
    """The plan's 14 servers, a month of on-demand EC2 of the same size (USD)."""
    return sum(count * hourly * HOURS_PER_MONTH for _, count, _, hourly in FLEET)


def write_units(profile: dict[str, Any]) -> float:
    """Write units per application: as measured, but at least what the requests cost on
    DynamoDB (a unit per single-item write; a transaction writes two items or more at two
    units each), since the local cloud under-reports consumed capacity."""
    single = calls(profile, "dynamodb", "PutItem", "UpdateItem", "DeleteItem")
    floor = single + 4 * calls(profile, "dynamodb", "TransactWriteItems")
    return max(float(profile["writeUnits"]), floor)


def units_per_write(profile: dict[str, Any]) -> float:
    """Average write units a DynamoDB write request consumed (items over 1 KB cost more), at
    least one: DynamoDB bills every item write a unit or more (the local cloud reports less)."""
    writes = calls(profile, "dynamodb", "PutItem", "UpdateItem", "DeleteItem",
                   "TransactWriteItems", "BatchWriteItem")
    return max(1.0, float(profile["writeUnits"]) / writes) if writes else 1.0


def report(profile: dict[str, Any], heat: dict[str, Any] | None, rate: float,
           peak_factor: float, average_share: float) -> str:
    """The model's printed report."""
    lines = [f"capacity at {rate:,.0f} applications/s x peak factor {peak_factor} "
             f"(profile measured {profile['measured']}: {profile['application']})", "",
             f"  {'service':15} {'quota':40} {'per app':>8} {'at rate/s':>11} "
             f"{'quota/s':>9} {'headroom':>9}"]
    found = rows(profile, rate, peak_factor)
    for row in sorted(found, key=lambda r: r.headroom):
        flag = "  EXCEEDED" if row.headroom < 1 else ""
        lines.append(f"  {row.quota.service:15} {row.quota.name:40} {row.per_application:8.2f} "
                     f"{row.per_second:11,.0f} {row.quota.per_second:9,.0f} "
                     f"{_headroom(row.headroom):>9}{flag}")
    first = bottleneck(found)
    lines += ["", "  (function seconds are the local cloud's timings, slower than AWS's: the "
                  "Lambda row is an upper bound; KMS GetPublicKey, 5/s, is called once per "
                  "execution environment, the key cached)"]
    lines += ["", f"first bottleneck: {first.quota.service} {first.quota.name}, "
                  f"{first.per_second:,.0f}/s against {first.quota.per_second:,.0f}/s "
                  f"({_headroom(first.headroom)} headroom)",
              f"  what to do: {first.quota.advice}", "", "quotas cited:"]
    lines += [f"  - {q.service} {q.name}: {q.source}" for q in QUOTAS.values()]
    if heat is not None:
        lines += ["", f"hottest partition per table and index (heat of {heat['n']} "
                      f"applications; {units_per_write(profile):.2f} write units a write; "
                      f"limit {PARTITION_WRITE_UNITS:,} write units/s per partition)"]
        for part in hottest_partitions(heat, rate, peak_factor, units_per_write(profile)):
            if part.grows_with_rate:
                share = part.write_units_per_second / PARTITION_WRITE_UNITS
                lines.append(f"  {part.target:18} {part.key:34} "
                             f"{part.write_units_per_second:8,.0f} WCU/s  "
                             f"{share:5.0%} of its partition"
                             f"{'  OVER' if share > 1 else ''}")
            else:
                lines.append(f"  {part.target:18} {part.key:34} one application's own key "
                             f"({part.writes_per_application:.0f} writes in its life)")
        lines.append("  (a shard's count over a small N is noisy: the hottest of 16 shards "
                     "over-states the average one; DEPT#WINDOW, the window's one task queue, "
                     "is written by every application: the next key to shard, by city)")
    costs = cost_per_application(profile)
    per_app = sum(costs.values())
    volume = yearly_volume(rate, average_share)
    monthly = per_app * volume / 12
    fleet = fleet_monthly()
    lines += ["", f"cost: {per_app * 1000:.3f} USD per 1,000 applications; a year's volume at "
                  f"an average of {average_share:.0%} of the peak is {volume / 1e6:,.0f} "
                  f"million applications", f"  per month: {monthly:,.0f} USD "
                  + ", ".join(f"{k} {v * volume / 12:,.0f}" for k, v in costs.items()),
              f"  the Yichun plan's fixed fleet (annex 2: 14 servers, 16- and 32-core), as "
              f"on-demand EC2: {fleet:,.0f} USD a month, "
              f"{', '.join(f'{n} x {t}' for _, n, t, _ in FLEET)}",
              f"  break-even: {fleet / per_app / 1e6:,.1f} million applications a month "
              f"({fleet / per_app / (30 * 24 * 3600):,.1f}/s on average)"]
    return "\n".join(lines)


def _headroom(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.2f}x"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000, help="applications a second")
    parser.add_argument("--peak-factor", type=float, default=1.5,
                        help="bursts above the rate within the peak (default 1.5)")
    parser.add_argument("--average-share", type=float, default=0.02,
                        help="the year's average rate as a share of the peak (default 0.02)")
    parser.add_argument("--profile", type=Path, default=PROFILE)
    parser.add_argument("--heat", type=Path, default=HEAT_PROFILE)
    args = parser.parse_args(argv)
    profile = json.loads(args.profile.read_text(encoding="utf-8"))
    heat = json.loads(args.heat.read_text(encoding="utf-8")) if args.heat.is_file() else None
    print(report(profile, heat, args.rate, args.peak_factor, args.average_share))
    return 0


if __name__ == "__main__":
    sys.exit(main())

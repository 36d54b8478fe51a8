"""The same template on LocalStack, when one is running (it needs Docker; CI has none)."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import localstack_client.config
import pytest

from infra.localcloud import deploy, localstack

ENDPOINT = localstack_client.config.get_service_endpoint("cloudformation")


def localstack_reachable() -> bool:
    try:
        urllib.request.urlopen(f"{ENDPOINT}/_localstack/health", timeout=1)
    except OSError:
        return False
    return True


@pytest.mark.skipif(not localstack_reachable(),
                    reason=f"no LocalStack answers at {ENDPOINT} (start one to run this test)")
def test_template_deploys_to_localstack(tmp_path: Path) -> None:
    outputs = deploy.deploy(ENDPOINT, simulators=localstack.SIMULATORS, stack_name="yiwang-test",
                            outputs_dir=tmp_path,
                            progress=lambda _: None)
    assert outputs["LifecycleStateMachineArn"].startswith("arn:aws:states:")
    table = deploy.client("dynamodb", ENDPOINT).describe_table(TableName=outputs["TableName"])
    assert table["Table"]["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"

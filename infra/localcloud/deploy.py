"""Deploy the template into a cloud endpoint and record the stack's outputs.

The same steps serve the local cloud and LocalStack: a deployment bucket, the packaged and
translated template, a CloudFormation stack, and the outputs written to `.local/outputs.json`
(and `.local/outputs.env`) where the API, the demo and the tests read them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader

from infra.localcloud import packaging
from infra.localcloud.server import REPO_ROOT
from infra.localcloud.simulators import SimulatorUrls

OUTPUTS_DIR = REPO_ROOT / ".local"
DEPLOYMENT_BUCKET = "yiwang-deployment"
REGION = "us-east-1"
Progress = Callable[[str], None]
LOCAL_CLOUD_TARGET = "local-cloud"


def client(service: str, endpoint: str) -> Any:
    """A boto3 client for the local endpoint (dummy credentials; the endpoint is local)."""
    return boto3.client(
        service, endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id="test", aws_secret_access_key="test",
    )


def deploy(
    endpoint: str,
    *,
    simulators: SimulatorUrls,
    stack_name: str = "yiwang-local",
    stage: str = "local",
    outputs_dir: Path = OUTPUTS_DIR,
    progress: Progress = print,
    layer_packages: bool = False,
) -> dict[str, str]:
    """Package, translate and deploy the template; return (and write) the stack outputs.

    The stack is a local-cloud one (`stack_parameters`): its providers are the `simulators`.
    `layer_packages` puts the layer's requirements (manylinux, CPython 3.12 wheels) in the
    layer, for a cloud whose functions do not run inside this `.venv` (LocalStack), as AWS's
    do not; the embedded cloud runs them in this process, which has them already."""
    s3 = client("s3", endpoint)
    s3.create_bucket(Bucket=DEPLOYMENT_BUCKET)

    def upload(key: str, body: bytes) -> None:
        s3.put_object(Bucket=DEPLOYMENT_BUCKET, Key=key, Body=body)

    progress("packaging functions, layer and state machines")
    packaged = packaging.package(packaging.load_template(), DEPLOYMENT_BUCKET, upload,
                                 layer_packages=layer_packages)
    progress("translating the SAM template")
    parameters = stack_parameters(stage, simulators, outputs_dir)
    template = packaging.translate(
        packaged, parameters, ManagedPolicyLoader(client("iam", endpoint)), REGION
    )
    progress(f"deploying stack {stack_name}")
    cfn = client("cloudformation", endpoint)
    source = template_source(json.dumps(template), f"templates/{stack_name}.json",
                             DEPLOYMENT_BUCKET, upload)
    outputs = _apply_stack(cfn, stack_name, source, parameters)
    progress("waiting for the functions to be Active")
    wait_for_functions(cfn, client("lambda", endpoint), stack_name)
    write_outputs(outputs, outputs_dir, endpoint)
    return outputs


TEMPLATE_BODY_LIMIT = 51_200
"""CloudFormation's limit on an inline `TemplateBody`, in bytes (a larger template must be
read from S3 through `TemplateURL`; LocalStack enforces it as AWS does, moto does not)."""


def template_source(body: str, key: str, bucket: str, upload: packaging.Upload) -> dict[str, str]:
    """`TemplateBody`, or, over CloudFormation's limit, `TemplateURL` to a copy uploaded to the
    deployment bucket (the virtual-hosted form, which AWS, LocalStack and moto all read)."""
    if len(body.encode()) <= TEMPLATE_BODY_LIMIT:
        return {"TemplateBody": body}
    upload(key, body.encode())
    return {"TemplateURL": f"https://{bucket}.s3.amazonaws.com/{key}"}


def wait_for_functions(cfn: Any, lambda_client: Any, stack_name: str) -> None:
    """Return once every function of the stack is Active: a function just created is Pending
    (on AWS and LocalStack) and refuses invocations until it is."""
    waiter = lambda_client.get_waiter("function_active_v2")
    paginator = cfn.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack_name):
        for resource in page["StackResourceSummaries"]:
            if resource["ResourceType"] == "AWS::Lambda::Function":
                waiter.wait(FunctionName=resource["PhysicalResourceId"],
                            WaiterConfig={"Delay": 1, "MaxAttempts": 300})


def stack_parameters(stage: str, simulators: SimulatorUrls, outputs_dir: Path) -> dict[str, str]:
    """A local-cloud stack's parameters: the only deploy that sets `Target=local-cloud`; the
    simulators' URLs in the local-cloud parameters, the AWS providers' left empty (the
    template's Rules require both), and the local issuer's JWKS."""
    issuer = environment({}, outputs_dir, tokens_only=True)
    return {"Stage": stage, "Target": LOCAL_CLOUD_TARGET, "JwksUrl": issuer["JWKS_URL"],
            "JwtIssuer": issuer["JWT_ISSUER"], "PaymentProviderUrl": "",
            "CourierProviderUrl": "", "SmsProviderUrl": "", **simulators.parameters(),
            "LocalCloudSmsWebhookSecret": os.environ.get("SMS_WEBHOOK_SECRET",
                                                         "local-sms-secret"),
            "ExchangeUrl": ""}


def _apply_stack(
    cfn: Any, name: str, source: dict[str, str], parameters: dict[str, str]
) -> dict[str, str]:
    arguments = {
        "StackName": name,
        **source,
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    }
    existing = {s["StackName"] for s in cfn.list_stacks()["StackSummaries"]
                if s["StackStatus"] != "DELETE_COMPLETE"}
    if name in existing:
        cfn.update_stack(**arguments)
    else:
        cfn.create_stack(**arguments)
    stack = _wait_for_stack(cfn, name)
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _wait_for_stack(cfn: Any, name: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        status = stack["StackStatus"]
        if status.endswith("_COMPLETE") and "ROLLBACK" not in status:
            return stack
        if "FAILED" in status or "ROLLBACK" in status:
            raise RuntimeError(f"stack {name} ended in {status}: {stack.get('StackStatusReason')}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"stack {name} still {status} after {timeout:.0f}s")
        time.sleep(0.2)


def write_outputs(outputs: dict[str, str], outputs_dir: Path, endpoint: str) -> None:
    """Write outputs as JSON and as KEY=value lines (the names the functions' env uses)."""
    outputs_dir.mkdir(parents=True, exist_ok=True)
    record = {**outputs, "Endpoint": endpoint, "Region": REGION}
    (outputs_dir / "outputs.json").write_text(json.dumps(record, indent=2) + "\n")
    (outputs_dir / "outputs.env").write_text(
        "".join(f"{key}={value}\n"
                for key, value in sorted(environment(record, outputs_dir).items()))
    )


LOCAL_ISSUER = "urn:yiwang:local-issuer"


def environment(
    outputs: dict[str, str], outputs_dir: Path = OUTPUTS_DIR, tokens_only: bool = False
) -> dict[str, str]:
    """The environment the API process gets from the stack outputs.

    Bearer tokens come from the local issuer (POST /dev/token), whose key pair lives beside
    the outputs; the API verifies them against its JWKS file exactly as against Cognito's.
    """
    issuer_dir = (outputs_dir / "issuer").resolve()
    tokens = {
        "LOCAL_ISSUER_DIR": str(issuer_dir),
        "JWKS_URL": (issuer_dir / "jwks.json").as_uri(),
        "JWT_ISSUER": LOCAL_ISSUER,
    }
    if tokens_only:
        return tokens
    return {
        **tokens,
        "STAGE": outputs["Stage"],
        "TABLE_NAME": outputs["TableName"],
        "BUCKET_NAME": outputs["BucketName"],
        "NOTICES_TOPIC_ARN": outputs["NoticesTopicArn"],
        "LIFECYCLE_STATE_MACHINE_ARN": outputs["LifecycleStateMachineArn"],
        "COMPLAINT_STATE_MACHINE_ARN": outputs.get("ComplaintStateMachineArn", ""),
        "SIGNING_KEY_ID": outputs.get("SigningKeyId", ""),
        # The local stage's webhook secrets (openapi.yaml), unless the environment sets others.
        "PAYMENT_WEBHOOK_SECRET": os.environ.get("PAYMENT_WEBHOOK_SECRET",
                                                 "local-payment-secret"),
        "COURIER_WEBHOOK_SECRET": os.environ.get("COURIER_WEBHOOK_SECRET",
                                                 "local-courier-secret"),
        "SMS_WEBHOOK_SECRET": os.environ.get("SMS_WEBHOOK_SECRET", "local-sms-secret"),
        # The data-sharing exchange: the simulator's URL (a stack output) and the local
        # stage's application secret, unless the environment sets another.
        "EXCHANGE_URL": outputs.get("ExchangeUrl", ""),
        "EXCHANGE_APP_KEY": outputs.get("ExchangeAppKey", ""),
        "EXCHANGE_APP_SECRET": os.environ.get("EXCHANGE_APP_SECRET", "local-exchange-secret"),
        "AWS_ENDPOINT_URL": outputs["Endpoint"],
        "AWS_DEFAULT_REGION": outputs["Region"],
        "AWS_REGION": outputs["Region"],
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }


def read_outputs(outputs_dir: Path = OUTPUTS_DIR) -> dict[str, str]:
    """The outputs of the last deployment."""
    return json.loads((outputs_dir / "outputs.json").read_text())

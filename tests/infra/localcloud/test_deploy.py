"""The deploy's steps every target needs: a template over CloudFormation's `TemplateBody` limit
goes through the deployment bucket (`TemplateURL`), and the deploy returns once every function
is Active."""

from __future__ import annotations

import json
from typing import Any

from infra.localcloud import deploy


def test_a_small_template_goes_inline_and_a_large_one_through_the_bucket() -> None:
    stored: dict[str, bytes] = {}
    small = deploy.template_source("{}", "templates/s.json", "bucket", stored.__setitem__)
    assert small == {"TemplateBody": "{}"} and not stored
    body = json.dumps({"Description": "长" * deploy.TEMPLATE_BODY_LIMIT})  # bytes, not chars
    large = deploy.template_source(body, "templates/l.json", "bucket", stored.__setitem__)
    assert large == {"TemplateURL": "https://bucket.s3.amazonaws.com/templates/l.json"}
    assert stored["templates/l.json"] == body.encode()


def test_the_deployed_template_is_over_the_template_body_limit_and_deployed(cloud: Any) -> None:
    s3, cfn = cloud.client("s3"), cloud.client("cloudformation")
    stored = s3.get_object(Bucket=deploy.DEPLOYMENT_BUCKET, Key="templates/yiwang-local.json")
    body = stored["Body"].read()
    assert len(body) > deploy.TEMPLATE_BODY_LIMIT
    stack = cfn.describe_stacks(StackName="yiwang-local")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    read = cfn.get_template(StackName="yiwang-local")["TemplateBody"]
    read = json.loads(read) if isinstance(read, str) else read
    assert read == json.loads(body)  # CloudFormation read the template from the bucket
    resources = cfn.list_stack_resources(StackName="yiwang-local")["StackResourceSummaries"]
    created = {r["LogicalResourceId"] for r in resources}
    functions = {name for name, resource in read["Resources"].items()
                 if resource["Type"] == "AWS::Lambda::Function"}
    assert functions and functions <= created


def test_every_function_of_the_stack_is_active_once_deployed(cloud: Any) -> None:
    cfn, functions = cloud.client("cloudformation"), cloud.client("lambda")
    resources = cfn.list_stack_resources(StackName="yiwang-local")["StackResourceSummaries"]
    names = [r["PhysicalResourceId"] for r in resources
             if r["ResourceType"] == "AWS::Lambda::Function"]
    assert names
    for name in names:
        assert functions.get_function(FunctionName=name)["Configuration"]["State"] == "Active"

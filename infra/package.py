"""`make package` / `make deploy`: one AWS template with the Chalice API and everything else.

`chalice package --merge-template` merges `infra/template.yaml` (paths made absolute) and the
API function's wiring (layer, environment, role) into Chalice's own template; the result,
`build/template.yaml`, is linted with cfn-lint. The API's edge on AWS (throttling, WAF,
access logs, gateway responses: `infra/api_edge.yaml`) names Chalice's `RestAPI`, so it is
merged here too, never deployed to the local cloud.

`--deploy` first checks the stack's parameters (`refusals`: no `local` stage, no local-cloud
target, the providers' URLs given and public https; then the template's own patterns and
Rules), and refuses with every reason at once; then it uploads the code (the layer built with
its dependencies for Lambda's platform) to `DEPLOY_BUCKET` and creates or updates the stack
`yiwang-<stage>`; CloudFormation runs the SAM transform (and checks the Rules again).

Bytecode: Lambda cannot write `__pycache__` (the code is read-only), so a package without
bytecode compiles every module it imports, the layer's dependencies included, at every cold
start. With a Python 3.12 at hand (`LAMBDA_PYTHON`, or `python3.12` on the PATH) the API's
deployment.zip and the layer ship compiled for it (unchecked-hash `.cpython-312.pyc`); without
one they ship as source, as before, and the build says so.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import yaml
from samtranslator.yaml_helper import yaml_parse

from infra.localcloud import deploy, packaging
from infra.localcloud.server import REPO_ROOT

API_DIR = REPO_ROOT / "functions" / "api"
EDGE_PATH = REPO_ROOT / "infra" / "api_edge.yaml"
AWS_TARGET = "aws"
PROVIDER_URLS = {"PaymentProviderUrl": "PAYMENT_PROVIDER_URL",
                 "CourierProviderUrl": "COURIER_PROVIDER_URL",
                 "SmsProviderUrl": "SMS_PROVIDER_URL",
                 "ExchangeUrl": "EXCHANGE_URL"}
"""The providers' URL parameters, and the variables `make deploy` reads them from."""
LOCAL_CLOUD_URLS = ("LocalCloudPaymentProviderUrl", "LocalCloudCourierProviderUrl",
                    "LocalCloudSmsProviderUrl", "LocalCloudExchangeUrl")
_LOCAL_PATH_KEYS = {"CodeUri", "ContentUri", "DefinitionUri"}
LAMBDA_PYTHON = "3.12"
"""The functions' runtime (`python3.12`): the Python their bytecode is compiled for."""


def lambda_python() -> str | None:
    """An interpreter of Lambda's Python to compile the packages with: `LAMBDA_PYTHON` (a
    path or command; another version is an error), else `python3.12` if it runs; None if
    there is neither."""
    configured = os.environ.get("LAMBDA_PYTHON")
    if configured:
        if _version(configured) != LAMBDA_PYTHON:
            raise SystemExit(f"LAMBDA_PYTHON={configured} is not a Python {LAMBDA_PYTHON}")
        return configured
    found = shutil.which(f"python{LAMBDA_PYTHON}")
    return found if found and _version(found) == LAMBDA_PYTHON else None


def _version(python: str) -> str | None:
    try:
        answer = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    return answer.stdout.strip() if answer.returncode == 0 else None


def compile_zip(path: Path, python: str) -> None:
    """Add `python`'s bytecode of every module in a zip (Chalice's deployment.zip) to it."""
    tag = packaging.cache_tag(python)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        with zipfile.ZipFile(path) as archive:
            archive.extractall(root)
            present = set(archive.namelist())
        packaging.compile_bytecode(root, python)
        with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
            for compiled in sorted(root.rglob(f"__pycache__/*.{tag}.pyc")):
                name = compiled.relative_to(root).as_posix()
                if name not in present:
                    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                    info.external_attr = 0o644 << 16
                    archive.writestr(info, compiled.read_bytes(), zipfile.ZIP_DEFLATED)


def _no_bytecode_warning() -> None:
    print(f"note: no Python {LAMBDA_PYTHON} found (set LAMBDA_PYTHON): the code ships without "
          "bytecode, and Lambda compiles it at every cold start", file=sys.stderr)


def api_wiring() -> dict[str, Any]:
    """What the API function needs beyond Chalice's defaults and the Globals: runtime, the
    lifecycle and complaint machines, permissions (least privilege, replacing Chalice's
    default role policy)."""
    statements = [
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream",
                                       "logs:PutLogEvents"], "Resource": "arn:*:logs:*:*:*"},
        {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
         "Resource": "*"},
        {"Effect": "Allow",
         "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:BatchGetItem",
                    "dynamodb:TransactWriteItems", "dynamodb:ConditionCheckItem",
                    "dynamodb:DescribeTable"],
         "Resource": [{"Fn::GetAtt": ["Table", "Arn"]},
                      {"Fn::Sub": "${Table.Arn}/index/*"}]},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket",
                                       "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
         "Resource": [{"Fn::GetAtt": ["AttachmentsBucket", "Arn"]},
                      {"Fn::Sub": "${AttachmentsBucket.Arn}/*"}]},
        {"Effect": "Allow", "Action": ["states:StartExecution", "states:DescribeStateMachine"],
         "Resource": [{"Ref": "ApplicationLifecycle"}, {"Ref": "ComplaintLifecycle"}]},
        {"Effect": "Allow", "Action": ["states:SendTaskSuccess", "states:SendTaskFailure",
                                       "states:SendTaskHeartbeat"], "Resource": "*"},
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": {"Ref": "NoticesTopic"}},
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
         "Resource": [{"Ref": "PaymentWebhookSecret"}, {"Ref": "CourierWebhookSecret"},
                      {"Ref": "SmsWebhookSecret"},
                      {"Ref": "ExchangeAppSecret"}]},
        {"Effect": "Allow", "Action": "kms:GetPublicKey",
         "Resource": {"Fn::GetAtt": ["SigningKey", "Arn"]}},
        {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
         "Resource": {"Fn::GetAtt": ["DataKey", "Arn"]}},
    ]
    return {
        "APIHandler": {"Properties": {
            "Runtime": "python3.12",
            # Layers and the stack's settings come from the template's Globals.
            "Environment": {"Variables": {
                "LIFECYCLE_STATE_MACHINE_ARN": {"Ref": "ApplicationLifecycle"},
                "COMPLAINT_STATE_MACHINE_ARN": {"Ref": "ComplaintLifecycle"},
                "PAYMENT_WEBHOOK_SECRET_ARN": {"Ref": "PaymentWebhookSecret"},
                "COURIER_WEBHOOK_SECRET_ARN": {"Ref": "CourierWebhookSecret"},
                "SMS_WEBHOOK_SECRET_ARN": {"Ref": "SmsWebhookSecret"},
                "EXCHANGE_APP_SECRET_ARN": {"Ref": "ExchangeAppSecret"},
                "POWERTOOLS_SERVICE_NAME": "yiwang-api",
                "POWERTOOLS_METRICS_NAMESPACE": "Yiwang",
            }},
        }},
        # The `bearer` authorizer, packaged by Chalice as its own function.
        "Bearer": {"Properties": {"Runtime": "python3.12"}},
        "DefaultRole": {"Properties": {"Policies": [{
            "PolicyName": "YiwangApi",
            "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
        }]}},
    }


def absolute_paths(node: Any, base: Path) -> Any:
    """The template with its local code and definition paths made absolute."""
    if isinstance(node, dict):
        return {k: str((base / v).resolve()) if k in _LOCAL_PATH_KEYS and isinstance(v, str)
                and not v.startswith("s3://") else absolute_paths(v, base)
                for k, v in node.items()}
    if isinstance(node, list):
        return [absolute_paths(v, base) for v in node]
    return node


def build(out: Path, stage: str) -> Path:
    """Run `chalice package --merge-template`; return the merged SAM template's path."""
    out = out.resolve()  # chalice runs in functions/api: a relative `--out` would point there
    out.mkdir(parents=True, exist_ok=True)
    merge = absolute_paths(packaging.load_template(), packaging.TEMPLATE_PATH.parent)
    merge["Resources"].update(api_wiring())
    edge = packaging.load_template(EDGE_PATH)
    merge["Parameters"].update(edge["Parameters"])
    merge["Resources"].update(edge["Resources"])
    merge_path = out / "merge.json"
    merge_path.write_text(json.dumps(merge, ensure_ascii=False, indent=1))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "layers"),
           "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    api_out = out / "api"
    subprocess.run(
        [str(Path(sys.executable).with_name("chalice")), "package", "--stage", stage,
         "--template-format", "yaml", "--merge-template", str(merge_path), str(api_out)],
        cwd=API_DIR, env=env, check=True,
    )
    python = lambda_python()
    if python:
        compile_zip(api_out / "deployment.zip", python)
    else:
        _no_bytecode_warning()
    template = yaml_parse((api_out / "sam.yaml").read_text())
    template = absolute_paths(template, api_out)
    result = out / "template.yaml"
    result.write_text(yaml.safe_dump(template, allow_unicode=True, sort_keys=False))
    return result


def lint(path: Path) -> None:
    subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), str(path)], check=True)


def deploy_parameters(stage: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The stack parameters `make deploy` gives: the stage, the target (`TARGET`, AWS unless
    set) and the providers' URLs (`PAYMENT_PROVIDER_URL`, `COURIER_PROVIDER_URL`,
    `SMS_PROVIDER_URL`)."""
    return {"Stage": stage, "Target": environ.get("TARGET") or AWS_TARGET,
            **{name: environ.get(variable, "") for name, variable in PROVIDER_URLS.items()}}


def refusals(parameters: Mapping[str, str], template: Mapping[str, Any]) -> list[str]:
    """Every reason not to deploy `parameters` to AWS (empty: deploy). The checks the
    template cannot make (an address's kind, by `ipaddress`), then the template's own."""
    problems = []
    if parameters.get("Stage") == "local":
        problems.append("STAGE=local is the local cloud's stage (POST /dev/token signs tokens "
                        "for anyone); `make run` runs it. Choose another stage for AWS.")
    if parameters.get("Target", AWS_TARGET) != AWS_TARGET:
        problems.append(f"TARGET={parameters['Target']} is only for the local cloud's deploy; "
                        f"`make deploy` deploys to AWS (Target={AWS_TARGET}).")
    for name, variable in PROVIDER_URLS.items():
        if problem := public_url_problem(parameters.get(name, "")):
            problems.append(f"{variable} ({name}) {problem}")
    problems += [f"{name} is the local cloud's (its simulators); not for AWS"
                 for name in LOCAL_CLOUD_URLS if parameters.get(name)]
    return problems + template_violations(template, parameters)


def public_url_problem(url: str) -> str | None:
    """Why `url` cannot be a provider's URL on AWS, or None: it must be https and name a
    public host, never localhost or a loopback, private, link-local or reserved address."""
    if not url:
        return "is required: the platform has no provider of its own to fall back on"
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return f"is not a URL: {url!r}"
    if parts.scheme != "https" or not host:
        return f"must be an https:// URL with a host, not {url!r}"
    if host == "localhost" or host.endswith(".localhost"):
        return f"names this machine ({host}), which no AWS function can reach"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None  # a name: public DNS is the provider's to keep
    if not address.is_global:
        return f"names a loopback, private or reserved address ({host})"
    return None


def template_violations(template: Mapping[str, Any], parameters: Mapping[str, str]) -> list[str]:
    """What CloudFormation would refuse in `parameters` (defaults filled in): a value outside
    a parameter's AllowedValues or AllowedPattern, or a Rule's failed assertion."""
    declared = template.get("Parameters", {})
    values = {name: str(parameters.get(name, spec.get("Default", "")))
              for name, spec in declared.items()}
    problems = []
    for name, spec in declared.items():
        allowed = spec.get("AllowedValues")
        if allowed is not None and values[name] not in [str(v) for v in allowed]:
            problems.append(f"{name}={values[name]!r} is not one of {allowed}")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, values[name]):
            problems.append(f"{name}={values[name]!r} {spec.get('ConstraintDescription', '')}"
                            f" (AllowedPattern)".replace("  ", " "))
    for name, rule in template.get("Rules", {}).items():
        if _holds(rule.get("RuleCondition", True), values):
            problems += [f"{name}: {assertion['AssertDescription']}"
                         for assertion in rule["Assertions"]
                         if not _holds(assertion["Assert"], values)]
    return problems


def _holds(condition: Any, values: Mapping[str, str]) -> Any:
    """A rule's condition or assertion evaluated on the parameters' values (the rule
    functions this template uses: Ref, Fn::Equals, Fn::Not, Fn::And, Fn::Or, Fn::Contains)."""
    if not isinstance(condition, dict):
        return condition
    (function, argument), = condition.items()
    if function == "Ref":
        return values[argument]
    operands = [_holds(a, values) for a in argument]
    if function == "Fn::Equals":
        return str(operands[0]) == str(operands[1])
    if function == "Fn::Not":
        return not operands[0]
    if function == "Fn::And":
        return all(operands)
    if function == "Fn::Or":
        return any(operands)
    if function == "Fn::Contains":
        return str(operands[1]) in [str(v) for v in operands[0]]
    raise ValueError(f"a rule function this check does not know: {function}")


def deploy_to_aws(template_path: Path, stage: str, bucket: str,
                  parameters: Mapping[str, str]) -> None:
    """Upload code and create or update the stack with `parameters`; CloudFormation runs the
    SAM transform."""
    s3 = boto3.client("s3")

    def upload(key: str, body: bytes) -> None:
        s3.put_object(Bucket=bucket, Key=key, Body=body)

    template = yaml_parse(template_path.read_text())
    python = lambda_python()
    if not python:
        _no_bytecode_warning()
    packaged = packaging.package(template, bucket, upload, template_dir=template_path.parent,
                                 layer_packages=True, bytecode=python)
    body = json.dumps(packaged)
    key = f"templates/yiwang-{stage}.json"
    upload(key, body.encode())
    cfn = boto3.client("cloudformation")
    name = f"yiwang-{stage}"
    change_type = "UPDATE" if _stack_exists(cfn, name) else "CREATE"
    change_set = cfn.create_change_set(
        StackName=name, ChangeSetName=f"deploy-{os.getpid()}", ChangeSetType=change_type,
        TemplateURL=f"https://{bucket}.s3.amazonaws.com/{key}",
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    cfn.get_waiter("change_set_create_complete").wait(ChangeSetName=change_set["Id"])
    cfn.execute_change_set(ChangeSetName=change_set["Id"])
    waiter = "stack_create_complete" if change_type == "CREATE" else "stack_update_complete"
    cfn.get_waiter(waiter).wait(StackName=name)
    # A function just created or updated is Pending until Lambda has it ready; wait as AWS asks.
    deploy.wait_for_functions(cfn, boto3.client("lambda"), name)
    print(f"deployed stack {name}")


def _stack_exists(cfn: Any, name: str) -> bool:
    try:
        status = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except cfn.exceptions.ClientError:
        return False
    return status != "REVIEW_IN_PROGRESS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.package", description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build")
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--deploy", action="store_true")
    args = parser.parse_args(argv)
    if args.deploy:
        # Before anything is built or uploaded: a refused deploy costs nothing.
        parameters = deploy_parameters(args.stage, os.environ)
        problems = refusals(parameters, packaging.load_template())
        bucket = os.environ.get("DEPLOY_BUCKET")
        if not bucket:
            problems.append("set DEPLOY_BUCKET to an S3 bucket for the code")
        if problems:
            print("error: refusing to deploy:\n" + "\n".join(f"  - {p}" for p in problems),
                  file=sys.stderr)
            return 2
    path = build(args.out, args.stage)
    lint(path)
    print(f"{path} is cfn-lint clean")
    if args.deploy:
        deploy_to_aws(path, args.stage, bucket, parameters)
    return 0


if __name__ == "__main__":
    sys.exit(main())

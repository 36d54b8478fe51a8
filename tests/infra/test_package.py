"""`make package`: Chalice's API template merged with the rest is one cfn-lint-clean template;
the code ships compiled for Lambda's Python when one is at hand."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

from infra.localcloud import packaging
from infra.localcloud.server import REPO_ROOT
from infra.package import (
    build,
    compile_zip,
    deploy_parameters,
    lambda_python,
    lint,
    main,
    refusals,
)


def test_package_merges_the_api_with_the_template_and_lints_clean(tmp_path: Path) -> None:
    path = build(tmp_path, "dev")
    lint(path)  # raises if cfn-lint finds anything
    resources = yaml_parse(path.read_text())["Resources"]
    api = resources["APIHandler"]["Properties"]
    assert api["Runtime"] == "python3.12"
    assert resources["Bearer"]["Properties"]["Runtime"] == "python3.12"
    assert api["Environment"]["Variables"]["LIFECYCLE_STATE_MACHINE_ARN"] == {
        "Ref": "ApplicationLifecycle"}
    assert api["Environment"]["Variables"]["COMPLAINT_STATE_MACHINE_ARN"] == {
        "Ref": "ComplaintLifecycle"}
    assert Path(api["CodeUri"]).name == "deployment.zip"
    assert {"Table", "AttachmentsBucket", "ApplicationLifecycle", "PreReviewFunction",
            "TimeoutCheckFunction", "RestAPI", "DomainLayer"} <= set(resources)
    statements = resources["DefaultRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"]
    assert not any(s["Action"] == "*" or s.get("Resource") == "*" and "dynamodb" in str(
        s["Action"]) for s in statements)


@pytest.fixture
def python312() -> str:
    """Lambda's Python, to compile with (`LAMBDA_PYTHON`, or `python3.12` on the PATH)."""
    python = lambda_python()
    if python is None:
        pytest.skip("no Python 3.12 to compile Lambda's bytecode with (set LAMBDA_PYTHON)")
    return python


def _header(python: str) -> bytes:
    """What a 3.12 unchecked-hash .pyc starts with: the magic number, then flags 0b01."""
    magic = subprocess.run([python, "-c", "import importlib.util, sys; "
                            "sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())"],
                           capture_output=True, text=True, check=True).stdout
    return bytes.fromhex(magic) + (0b01).to_bytes(4, "little")


def test_the_layer_ships_compiled_for_lambdas_python(tmp_path: Path, python312: str) -> None:
    built = packaging.build_layer(REPO_ROOT / "layers", platform_packages=False,
                                  bytecode=python312)
    archive = zipfile.ZipFile(io.BytesIO(packaging.zip_folder(built, "cpython-312")))
    names = set(archive.namelist())
    sources = {name for name in names if name.endswith(".py")}
    assert "python/yiwang/records.py" in sources
    for source in sources:  # every module, with its bytecode next to it
        folder, _, module = source.rpartition("/")
        compiled = f"{folder}/__pycache__/{module[:-3]}.cpython-312.pyc"
        assert compiled in names, compiled
        assert archive.read(compiled)[:8] == _header(python312)
    assert all(".cpython-312." in name for name in names if name.endswith(".pyc"))
    # Lambda's Python runs the bytecode without reading the source: a module whose source
    # was replaced after compiling still imports as compiled.
    archive.extractall(tmp_path)
    (tmp_path / "python/yiwang/errors.py").write_text("raise SystemExit('source read')\n")
    subprocess.run([python312, "-c", "from yiwang.platform.errors import DomainError"], check=True,
                   env={"PYTHONPATH": str(tmp_path / "python"), "PYTHONDONTWRITEBYTECODE": "1"})
    # Zipped as before (local cloud, or no Python 3.12): no bytecode at all.
    plain = zipfile.ZipFile(io.BytesIO(packaging.zip_folder(built))).namelist()
    assert not [name for name in plain if name.endswith(".pyc")]


def test_the_api_deployment_zip_gets_its_bytecode(tmp_path: Path, python312: str) -> None:
    path = tmp_path / "deployment.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("app.py", "import chalicelib.routes\n")
        archive.writestr("chalicelib/__init__.py", "")
        archive.writestr("chalicelib/routes/__init__.py", "ROUTES = 1\n")
    compile_zip(path, python312)
    names = zipfile.ZipFile(path).namelist()
    assert sorted(name for name in names if name.endswith(".pyc")) == [
        "__pycache__/app.cpython-312.pyc", "chalicelib/__pycache__/__init__.cpython-312.pyc",
        "chalicelib/routes/__pycache__/__init__.cpython-312.pyc"]
    assert zipfile.ZipFile(path).read("__pycache__/app.cpython-312.pyc")[:8] == _header(
        python312)


def test_make_package_builds_into_a_folder_relative_to_where_it_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # `make package` passes `--out build`
    path = build(Path("build"), "dev")
    assert path.is_file()
    assert path.resolve().parent == tmp_path.resolve() / "build"


# --- the edge of the API on AWS (infra/api_edge.yaml, merged with Chalice's RestAPI) ----------

GATEWAY_RESPONSES = ("DEFAULT_4XX", "DEFAULT_5XX", "UNAUTHORIZED", "ACCESS_DENIED",
                     "MISSING_AUTHENTICATION_TOKEN", "UNSUPPORTED_MEDIA_TYPE",
                     "REQUEST_TOO_LARGE", "THROTTLED", "WAF_FILTERED")


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The packaged template (`make package`), cfn-lint clean."""
    path = build(tmp_path_factory.mktemp("package"), "dev")
    lint(path)
    return yaml_parse(path.read_text())


def translated(template: dict[str, Any]) -> dict[str, Any]:
    """The packaged template after the SAM transform CloudFormation runs (code at S3)."""
    def at_s3(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: "s3://code/x.zip" if k in ("CodeUri", "ContentUri", "DefinitionUri")
                    else at_s3(v) for k, v in node.items()}
        return [at_s3(v) for v in node] if isinstance(node, list) else node

    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name="us-east-1"))
    return translator.translate(at_s3(template), parameter_values={},
                                get_managed_policy_map=lambda: {})


def test_the_firewall_guards_the_api_stage(packaged: dict[str, Any]) -> None:
    resources = packaged["Resources"]
    acl = resources["ApiWebAcl"]["Properties"]
    assert resources["ApiWebAcl"]["Type"] == "AWS::WAFv2::WebACL"
    assert acl["Scope"] == "REGIONAL"
    rules = {rule["Name"]: rule for rule in acl["Rules"]}
    per_ip = rules["RateLimitPerIp"]["Statement"]["RateBasedStatement"]
    assert per_ip["AggregateKeyType"] == "IP" and "Block" in rules["RateLimitPerIp"]["Action"]
    common = rules["AWSManagedRulesCommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    assert (common["VendorName"], common["Name"]) == ("AWS", "AWSManagedRulesCommonRuleSet")
    # The API bounds its own bodies (1 MiB, 413): the set's 8 KB body rule only counts.
    assert common["RuleActionOverrides"] == [
        {"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}]
    # After the SAM transform, the association names the API's own stage.
    plain = translated(packaged)["Resources"]
    stage = next(name for name, r in plain.items() if r["Type"] == "AWS::ApiGateway::Stage")
    association = plain["ApiWebAclAssociation"]
    assert association["Type"] == "AWS::WAFv2::WebACLAssociation"
    assert association["Properties"]["ResourceArn"]["Fn::Sub"].endswith(
        "/restapis/${RestAPI}/stages/${" + stage + "}")
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": ["ApiWebAcl", "Arn"]}


def test_every_route_is_throttled_and_the_open_ones_more(packaged: dict[str, Any]) -> None:
    api = packaged["Resources"]["RestAPI"]["Properties"]
    parameters = packaged["Parameters"]
    settings = {(s["ResourcePath"], s["HttpMethod"]): s for s in api["MethodSettings"]}
    default = settings[("/*", "*")]
    assert default["ThrottlingRateLimit"] == {"Ref": "ApiRateLimit"}
    assert default["ThrottlingBurstLimit"] == {"Ref": "ApiBurstLimit"}
    rate = parameters["ApiRateLimit"]["Default"]
    # Every route that needs no token (read from the packaged API itself) is stricter.
    open_routes = [(path, method) for path, methods in api["DefinitionBody"]["paths"].items()
                   for method, operation in methods.items()
                   if method != "options" and not operation.get("security")]
    assert ("/webhooks/payment", "post") in open_routes and ("/items", "get") in open_routes
    for path, method in open_routes:
        setting = settings[("/" + path.replace("/", "~1"), method.upper())]
        limit = parameters[setting["ThrottlingRateLimit"]["Ref"]]["Default"]
        assert limit < rate, (path, method)
    assert settings[("/~1webhooks~1payment", "POST")]["ThrottlingRateLimit"] == {
        "Ref": "WebhookRateLimit"}


def test_access_logs_are_json_lines_in_their_own_group(packaged: dict[str, Any]) -> None:
    resources = packaged["Resources"]
    logs = resources["RestAPI"]["Properties"]["AccessLogSetting"]
    assert logs["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    line = json.loads(logs["Format"])
    assert {"requestId", "ip", "method", "resourcePath", "status", "caller"} <= set(line)
    assert "authorization" not in logs["Format"].lower()
    assert resources["ApiAccessLogGroup"]["Type"] == "AWS::Logs::LogGroup"
    assert resources["ApiGatewayAccount"]["Properties"]["CloudWatchRoleArn"] == {
        "Fn::GetAtt": ["ApiGatewayLoggingRole", "Arn"]}


@pytest.mark.parametrize("kind", GATEWAY_RESPONSES)
def test_gateway_responses_are_problems_with_a_code(packaged: dict[str, Any], kind: str) -> None:
    response = packaged["Resources"]["RestAPI"]["Properties"]["GatewayResponses"][kind]
    assert response["ResponseParameters"]["Headers"]["Content-Type"] == \
        "'application/problem+json'"
    template = response["ResponseTemplates"]["application/json"]
    body = json.loads(template.replace("$context.error.messageString", '"why"'))
    assert set(body) >= {"type", "title", "status", "detail", "code"}
    assert body["status"] == int(response["StatusCode"])
    assert body["code"].isupper() and body["detail"] == "why"
    assert body["type"] == "https://yiwang.gov.cn/problems/" + body["code"].lower().replace(
        "_", "-")


def test_the_gateway_responses_deploy_with_the_api(packaged: dict[str, Any]) -> None:
    # Declared on the API, they are part of its definition, so of every deployment of it.
    api = translated(packaged)["Resources"]["RestAPI"]["Properties"]["Body"]
    assert set(api["x-amazon-apigateway-gateway-responses"]) == set(GATEWAY_RESPONSES)


# --- make deploy refuses laptop settings ------------------------------------------------------

PUBLIC = {"PAYMENT_PROVIDER_URL": "https://pay.example.com",
          "COURIER_PROVIDER_URL": "https://open.sf-express.example.com",
          "SMS_PROVIDER_URL": "https://sms.example.com",
          "EXCHANGE_URL": "https://exchange.gd.example.gov.cn",
          "DEPLOY_BUCKET": "artifacts"}


@pytest.fixture
def nothing_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused deploy builds, lints and uploads nothing."""
    def fail(*_: Any, **__: Any) -> None:
        raise AssertionError("a refused deploy went on")

    for name in ("build", "lint", "deploy_to_aws"):
        monkeypatch.setattr(f"infra.package.{name}", fail)


@pytest.mark.parametrize("stage, env, reason", [
    ("local", {}, "STAGE=local is the local cloud's stage"),
    ("prod", {"TARGET": "local-cloud"}, "TARGET=local-cloud is only for the local cloud"),
    ("prod", {"PAYMENT_PROVIDER_URL": "http://127.0.0.1:8100"},
     "PAYMENT_PROVIDER_URL (PaymentProviderUrl) must be an https:// URL"),
    ("prod", {"COURIER_PROVIDER_URL": "https://localhost:8200"},
     "COURIER_PROVIDER_URL (CourierProviderUrl) names this machine"),
    ("prod", {"COURIER_PROVIDER_URL": "https://10.1.2.3/waybills"},
     "names a loopback, private or reserved address (10.1.2.3)"),
    ("prod", {"PAYMENT_PROVIDER_URL": "https://100.64.0.1"}, "private or reserved"),
    ("prod", {"COURIER_PROVIDER_URL": ""}, "COURIER_PROVIDER_URL (CourierProviderUrl) is required"),
    ("prod", {"SMS_PROVIDER_URL": ""}, "SMS_PROVIDER_URL (SmsProviderUrl) is required"),
    ("prod", {"SMS_PROVIDER_URL": "http://127.0.0.1:8300"},
     "SMS_PROVIDER_URL (SmsProviderUrl) must be an https:// URL"),
], ids=["local-stage", "local-cloud-target", "loopback-http", "localhost", "private",
        "shared-address-space", "no-courier", "no-sms", "loopback-sms"])
def test_make_deploy_refuses_laptop_settings(
        stage: str, env: dict[str, str], reason: str, nothing_built: None,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in {"TARGET": "", **PUBLIC, **env}.items():
        monkeypatch.setenv(name, value)
    assert main(["--deploy", "--stage", stage]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: refusing to deploy:") and reason in error


def test_public_providers_on_a_named_stage_are_deployable() -> None:
    parameters = deploy_parameters("prod", PUBLIC)
    assert parameters == {"Stage": "prod", "Target": "aws",
                          "PaymentProviderUrl": "https://pay.example.com",
                          "CourierProviderUrl": "https://open.sf-express.example.com",
                          "SmsProviderUrl": "https://sms.example.com",
                          "ExchangeUrl": "https://exchange.gd.example.gov.cn"}
    assert refusals(parameters, packaging.load_template()) == []


def test_the_template_rules_are_checked_too() -> None:
    # A rule the template adds is enforced before CloudFormation sees the parameters.
    template = packaging.load_template()
    template["Rules"]["NoProd"] = {"RuleCondition": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
                                   "Assertions": [{"Assert": False,
                                                   "AssertDescription": "not today"}]}
    assert refusals(deploy_parameters("prod", PUBLIC), template) == ["NoProd: not today"]

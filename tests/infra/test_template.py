"""The deployable template and state machine definitions pass their linters, and every
function has a sample event."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint

from infra.asl_lint import problems, substitutions_by_file
from infra.localcloud.deploy import stack_parameters
from infra.localcloud.packaging import TEMPLATE_PATH, load_template
from infra.localcloud.server import REPO_ROOT
from infra.localcloud.simulators import SimulatorUrls
from infra.package import template_violations

FUNCTIONS = sorted(p for p in (REPO_ROOT / "functions").iterdir() if (p / "app.py").is_file())
MACHINES = sorted((REPO_ROOT / "state_machines").glob("*.asl.json"))


def test_template_is_cfn_lint_clean() -> None:
    # The command line's defaults: errors and warnings, in the region the stack deploys to.
    matches = lint(TEMPLATE_PATH.read_text(), config=ManualArgs(regions=["us-east-1"]))
    assert [str(m) for m in matches] == []


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_state_machine_definition_is_valid(path: Path) -> None:
    assert problems(path, substitutions_by_file(load_template())) == []


def test_asl_lint_catches_a_bad_state_type_and_a_hard_coded_arn(tmp_path: Path) -> None:
    bad = tmp_path / "bad.asl.json"
    bad.write_text(json.dumps({"StartAt": "X", "States": {"X": {
        "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f",
        "Next": "Y"}, "Y": {"Type": "Tusk", "End": True}}}))
    found = "\n".join(problems(bad, {bad.resolve(): set()}))
    assert "not valid ASL" in found
    assert "hard-codes arn:aws:lambda:us-east-1:123456789012:" in found


@pytest.mark.parametrize("folder", FUNCTIONS, ids=lambda p: p.name)
def test_every_function_has_a_sample_event(folder: Path) -> None:
    samples = list((REPO_ROOT / "events").glob(f"{folder.name}*.json"))
    assert samples, f"events/ has no sample event for functions/{folder.name}"
    for sample in samples:
        json.loads(sample.read_text())


def test_every_step_function_is_deployed_by_the_template() -> None:
    code_uris = {
        (TEMPLATE_PATH.parent / r["Properties"]["CodeUri"]).resolve()
        for r in load_template()["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    }
    steps = {f.resolve() for f in FUNCTIONS if f.name != "api"}  # the API is merged by Chalice
    assert steps <= code_uris


# --- production refuses laptop settings -------------------------------------------------------

LOOPBACK = ("127.0.0.1", "localhost", "0.0.0.0", "::1")
PUBLIC = {"PaymentProviderUrl": "https://pay.example.com/api",
          "CourierProviderUrl": "https://open.sf-express.example.com",
          "SmsProviderUrl": "https://sms.example.com/api",
          "ExchangeUrl": "https://exchange.gd.example.gov.cn"}


def aws_parameters(**overrides: str) -> dict[str, str]:
    return {"Stage": "prod", "Target": "aws", **PUBLIC, **overrides}


def test_no_parameter_defaults_to_this_machine() -> None:
    parameters = load_template()["Parameters"]
    for name, spec in parameters.items():
        default = str(spec.get("Default", ""))
        assert not any(host in default for host in LOOPBACK), (name, default)
    # The providers' URLs have no default at all: a stack is always told where they are.
    assert "Default" not in parameters["PaymentProviderUrl"]
    assert "Default" not in parameters["CourierProviderUrl"]
    assert "Default" not in parameters["SmsProviderUrl"]
    assert "Default" not in parameters["ExchangeUrl"]
    assert parameters["Target"]["AllowedValues"] == ["aws", "local-cloud"]
    assert parameters["Target"]["Default"] == "aws"


def test_an_aws_stack_with_public_providers_passes_the_rules() -> None:
    assert template_violations(load_template(), aws_parameters()) == []


@pytest.mark.parametrize("overrides, rule", [
    ({"Stage": "local"}, "LocalStageOnlyInTheLocalCloud"),
    ({"PaymentProviderUrl": ""}, "AwsTalksToRealProviders"),
    ({"CourierProviderUrl": ""}, "AwsTalksToRealProviders"),
    ({"LocalCloudCourierProviderUrl": "http://127.0.0.1:8200"}, "AwsTalksToRealProviders"),
    ({"Target": "local-cloud"}, "LocalCloudTalksToTheSimulators"),
    ({"SmsProviderUrl": ""}, "AwsTalksToRealProviders"),
    ({"LocalCloudSmsProviderUrl": "http://127.0.0.1:8300"}, "AwsTalksToRealProviders"),
    ({"ExchangeUrl": ""}, "AwsTalksToRealProviders"),
    ({"LocalCloudExchangeUrl": "http://127.0.0.1:8400"}, "AwsTalksToRealProviders"),
], ids=["local-stage", "no-payment-url", "no-courier-url", "simulator-on-aws", "mixed-target",
        "no-sms-url", "sms-simulator-on-aws", "no-exchange-url", "exchange-simulator-on-aws"])
def test_the_rules_refuse_laptop_settings_on_aws(overrides: dict[str, str], rule: str) -> None:
    found = template_violations(load_template(), aws_parameters(**overrides))
    assert any(problem.startswith(f"{rule}:") for problem in found), found


@pytest.mark.parametrize("url", [
    "http://pay.example.com", "https://127.0.0.1:8100", "https://localhost", "https://a.localhost",
    "https://10.0.0.5/pay", "https://172.16.3.4", "https://192.168.1.10:8443",
    "https://169.254.169.254/latest", "https://0.0.0.0", "https://[::1]/pay",
])
def test_the_provider_url_patterns_refuse_loopback_private_and_plain_http(url: str) -> None:
    template = load_template()
    for name in ("PaymentProviderUrl", "CourierProviderUrl", "SmsProviderUrl", "ExchangeUrl"):
        found = template_violations(template, aws_parameters(**{name: url}))
        assert any(p.startswith(f"{name}=") and "AllowedPattern" in p for p in found), found


def test_the_local_clouds_own_parameters_pass_the_rules(tmp_path: Path) -> None:
    # moto ignores Rules and AllowedPattern; the local cloud satisfies them anyway.
    urls = SimulatorUrls(payment="http://127.0.0.1:41001", courier="http://127.0.0.1:41002",
                         sms="http://127.0.0.1:41003", exchange="http://127.0.0.1:41004")
    parameters = stack_parameters("local", urls, tmp_path)
    assert parameters["Target"] == "local-cloud"
    assert template_violations(load_template(), parameters) == []


def test_the_functions_get_the_url_the_target_chooses() -> None:
    resources = load_template()["Resources"]
    variables = {**resources["PaymentOrderFunction"]["Properties"]["Environment"]["Variables"],
                 **resources["DeliveryDispatchFunction"]["Properties"]["Environment"]["Variables"]}
    assert variables["PAYMENT_PROVIDER_URL"] == {"Fn::If": [
        "InTheLocalCloud", {"Ref": "LocalCloudPaymentProviderUrl"}, {"Ref": "PaymentProviderUrl"}]}
    assert variables["COURIER_PROVIDER_URL"] == {"Fn::If": [
        "InTheLocalCloud", {"Ref": "LocalCloudCourierProviderUrl"}, {"Ref": "CourierProviderUrl"}]}
    assert load_template()["Conditions"]["InTheLocalCloud"] == {
        "Fn::Equals": [{"Ref": "Target"}, "local-cloud"]}


def test_the_token_lifetime_cap_is_a_bounded_parameter() -> None:
    template = load_template()
    cap = template["Parameters"]["MaxTokenLifetimeSeconds"]
    assert (cap["Default"], cap["MinValue"], cap["MaxValue"]) == (43200, 300, 86400)
    assert template["Globals"]["Function"]["Environment"]["Variables"][
        "MAX_TOKEN_LIFETIME_SECONDS"] == {"Ref": "MaxTokenLifetimeSeconds"}

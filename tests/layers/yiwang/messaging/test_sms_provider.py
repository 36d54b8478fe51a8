"""The SMS adapter against the local simulator, over real signed HTTP: registered templates
only, every variable, our signature."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from infra.providers import sms as simulator
from yiwang.messaging.sms_provider import HttpSmsProvider, SmsRefused

SECRET = b"test-sms-secret"
VARIABLES = {"applicationId": "YW1", "itemName": "建设工程规划许可证核发"}


@pytest.fixture
def provider_url() -> Iterator[tuple[str, simulator.SmsServer]]:
    server = simulator.serve(port=0, secret=SECRET.decode(), receipt_after=None)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()
    server.server_close()


def test_a_registered_template_is_sent_once_per_reference(provider_url) -> None:  # noqa: ANN001
    url, server = provider_url
    provider = HttpSmsProvider(url, SECRET)
    first = provider.send("n-1", "13800138000", "SMS_APPLICATION_PICKUP", VARIABLES)
    again = provider.send("n-1", "13800138000", "SMS_APPLICATION_PICKUP", VARIABLES)
    assert first == again and first.startswith("SMS")
    assert list(server.messages) == ["n-1"]


@pytest.mark.parametrize("template, variables, code", [
    ("SMS_NEVER_REGISTERED", VARIABLES, "TEMPLATE_NOT_REGISTERED"),
    ("SMS_APPLICATION_PICKUP", {"applicationId": "YW1"}, "MISSING_VARIABLE"),
])
def test_the_provider_refuses_an_unregistered_template_or_a_missing_variable(
        provider_url, template: str, variables: dict, code: str) -> None:  # noqa: ANN001
    url, server = provider_url
    with pytest.raises(SmsRefused) as refused:
        HttpSmsProvider(url, SECRET).send("n-2", "13800138000", template, variables)
    assert refused.value.code == code
    assert server.messages == {}


def test_a_request_not_signed_with_our_secret_is_refused(provider_url) -> None:  # noqa: ANN001
    url, server = provider_url
    with pytest.raises(SmsRefused) as refused:
        HttpSmsProvider(url, b"someone-else").send("n-3", "13800138000",
                                                   "SMS_APPLICATION_PICKUP", VARIABLES)
    assert refused.value.code == "BAD_SIGNATURE"
    assert server.messages == {}


def test_every_sms_template_of_the_catalogue_is_registered() -> None:
    from yiwang.messaging.catalogue import catalogue

    registered = simulator.registered_templates()
    for template in catalogue().templates.values():
        if template.sms:
            assert registered[template.sms] == template.variables

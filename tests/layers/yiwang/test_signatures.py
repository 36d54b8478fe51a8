"""Webhook signatures: what the provider signs verifies; stale, early, forged or tampered
callbacks are refused with the error the API answers (401 BAD_SIGNATURE / STALE_WEBHOOK)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from yiwang.platform.config import ConfigurationError
from yiwang.platform.errors import Unauthenticated
from yiwang.platform.signatures import BadSignature, StaleWebhook, provider_secret, sign, verify

SECRET = b"local-payment-secret"
BODY = (b'{"orderId":"YW2026112300012345PABCDEF01","transactionId":"T1","amountFen":1000,'
        b'"status":"SUCCESS","paidAt":"2026-11-23T10:00:00+08:00"}')
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
STAMP = str(int(NOW.timestamp()))


def test_the_signature_is_the_documented_hmac() -> None:
    expected = hmac.new(SECRET, STAMP.encode() + b"." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, STAMP, BODY) == f"sha256={expected}"
    assert sign(SECRET.decode(), STAMP, BODY.decode()) == sign(SECRET, STAMP, BODY)


def test_a_fresh_signed_callback_verifies() -> None:
    verify(SECRET, STAMP, BODY, sign(SECRET, STAMP, BODY), NOW)
    # up to five minutes either way (clock skew)
    for skew in (timedelta(minutes=5), -timedelta(minutes=5), timedelta(seconds=299)):
        verify(SECRET, STAMP, BODY, sign(SECRET, STAMP, BODY), NOW + skew)


def test_a_stale_callback_is_refused_even_when_correctly_signed() -> None:
    old = str(int((NOW - timedelta(minutes=5, seconds=1)).timestamp()))
    with pytest.raises(StaleWebhook) as refused:
        verify(SECRET, old, BODY, sign(SECRET, old, BODY), NOW)
    assert refused.value.code == "STALE_WEBHOOK"
    assert isinstance(refused.value, Unauthenticated)  # the API answers 401


def test_a_callback_from_the_future_is_refused() -> None:
    ahead = str(int((NOW + timedelta(minutes=6)).timestamp()))
    with pytest.raises(StaleWebhook):
        verify(SECRET, ahead, BODY, sign(SECRET, ahead, BODY), NOW)


@pytest.mark.parametrize("signature", [
    None, "", "sha256=", "md5=abc", "sha256=" + "0" * 64,
    sign(b"another-secret", STAMP, BODY),  # forged with the wrong secret
    sign(SECRET, STAMP, BODY)[:-1],  # truncated
    "sha256=中文",
])
def test_a_forged_or_missing_signature_is_refused(signature: str | None) -> None:
    with pytest.raises(BadSignature) as refused:
        verify(SECRET, STAMP, BODY, signature, NOW)
    assert refused.value.code == "BAD_SIGNATURE"
    assert isinstance(refused.value, Unauthenticated)


def test_a_tampered_body_or_timestamp_is_refused() -> None:
    signature = sign(SECRET, STAMP, BODY)
    with pytest.raises(BadSignature):
        verify(SECRET, STAMP, BODY.replace(b"1000", b"1001"), signature, NOW)
    with pytest.raises(BadSignature):
        verify(SECRET, STAMP, BODY + b" ", signature, NOW)
    later = str(int(STAMP) + 1)  # a replay with a fresh timestamp needs a fresh signature
    with pytest.raises(BadSignature):
        verify(SECRET, later, BODY, signature, NOW)


@pytest.mark.parametrize("timestamp", [None, "", "abc", "1.5", "-60", "１２３"])
def test_a_timestamp_that_is_not_unix_seconds_is_refused(timestamp: str | None) -> None:
    with pytest.raises(BadSignature):
        verify(SECRET, timestamp, BODY, sign(SECRET, timestamp or "", BODY), NOW)


def test_a_forged_stale_callback_is_a_bad_signature_not_stale() -> None:
    old = str(int((NOW - timedelta(hours=1)).timestamp()))
    with pytest.raises(BadSignature):
        verify(SECRET, old, BODY, sign(b"guess", old, BODY), NOW)


def test_the_secret_comes_from_the_environment_and_the_local_stage_gives_its_own() -> None:
    from infra.localcloud.deploy import environment

    local = environment({"Stage": "local", "TableName": "t", "BucketName": "b",
                         "NoticesTopicArn": "arn", "LifecycleStateMachineArn": "arn",
                         "Endpoint": "http://127.0.0.1:4566", "Region": "us-east-1"})
    assert provider_secret("payment", value=local["PAYMENT_WEBHOOK_SECRET"], arn=None) == SECRET
    assert provider_secret("courier", value=local["COURIER_WEBHOOK_SECRET"], arn=None) == \
        b"local-courier-secret"
    assert provider_secret("payment", value="s3cret", arn=None) == b"s3cret"
    with pytest.raises(ConfigurationError, match="PAYMENT_WEBHOOK_SECRET"):
        provider_secret("payment", value=None, arn=None)


def test_each_refusal_counts_one_webhook_signature_failed_metric() -> None:
    from yiwang.platform.observability import metrics

    def counted() -> list[float]:
        return list(metrics.metric_set.get("WebhookSignatureFailed", {}).get("Value", []))

    metrics.clear_metrics()
    try:
        verify(SECRET, STAMP, BODY, sign(SECRET, STAMP, BODY), NOW)
        assert counted() == []
        with pytest.raises(BadSignature):
            verify(SECRET, STAMP, BODY, sign(b"guess", STAMP, BODY), NOW)
        old = str(int((NOW - timedelta(hours=1)).timestamp()))
        with pytest.raises(StaleWebhook):
            verify(SECRET, old, BODY, sign(SECRET, old, BODY), NOW)
        assert counted() == [1.0, 1.0]
    finally:
        metrics.clear_metrics()

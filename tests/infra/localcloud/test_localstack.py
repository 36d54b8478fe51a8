"""How LocalStack is started in host mode (the LocalStack target itself is the integration suite
run with YIWANG_TEST_TARGET=localstack: `make test-localstack`)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from infra.localcloud import localstack
from infra.localcloud.server import PortTakenError


def test_localstack_is_started_with_our_plugins_and_only_the_services_the_template_uses(
        tmp_path: Path) -> None:
    env = localstack.localstack_environment("127.0.0.1", 4599, tmp_path)
    assert env["GATEWAY_LISTEN"] == "127.0.0.1:4599"
    assert env["PROVIDER_OVERRIDE_DYNAMODB"] == env["PROVIDER_OVERRIDE_DYNAMODBSTREAMS"] == "yiwang"
    assert env["LAMBDA_RUNTIME_EXECUTOR"] == "yiwang-host"
    assert env["SQS_ENDPOINT_STRATEGY"] == "path"
    assert env["YIWANG_LAMBDA_PYTHON312"].endswith(".venv-functions/bin/python")
    assert "dynamodb" in env["SERVICES"].split(",") and "ec2" not in env["SERVICES"].split(",")
    assert env["FILESYSTEM_ROOT"].startswith(str(tmp_path))


def test_a_taken_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    if not localstack.LOCALSTACK_PYTHON.exists() or not localstack.FUNCTIONS_PYTHON.exists():
        pytest.skip("the LocalStack environments are not built (make localstack-env)")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        server = localstack.LocalStack(port=holder.getsockname()[1], root=tmp_path)
        with pytest.raises(PortTakenError, match="already in use"):
            server.start()
    assert server.process is None


def test_a_missing_environment_says_what_to_run(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(localstack, "LOCALSTACK_PYTHON", tmp_path / "absent" / "python")
    with pytest.raises(localstack.LocalStackMissing, match="make localstack-env"):
        localstack.LocalStack(port=1, root=tmp_path).start()

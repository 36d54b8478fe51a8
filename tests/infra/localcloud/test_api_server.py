"""The API's launcher under `make run`: chalice's local server, one described line per request
(no cloud: a two-route app on a free port)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from chalice import Chalice, Response
from chalice.config import Config
from chalice.local import create_local_server

from infra.localcloud.api_server import describe_requests
from infra.localcloud.console import REQUEST_MARK


@pytest.fixture
def api() -> Iterator[str]:
    app = Chalice(app_name="described")

    @app.route("/things", methods=["POST"])
    def create() -> Response:
        return Response({"id": "T1"}, status_code=201)

    @app.route("/broken")
    def broken() -> None:
        raise RuntimeError("boom")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = Config.create(chalice_app=app, app_name="described", chalice_stage="local")
    server = create_local_server(app, config, "127.0.0.1", port)
    describe_requests(server, config)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()


def described(captured: str) -> list[dict[str, object]]:
    return [json.loads(line[len(REQUEST_MARK):]) for line in captured.splitlines()
            if line.startswith(REQUEST_MARK)]


def test_each_request_is_described_in_one_line_and_not_in_the_access_log(
        api: str, capsys: pytest.CaptureFixture[str]) -> None:
    bearer = "e30.eyJzdWIiOiAiY2l0aXplbi0xIiwgInJvbGUiOiAiYXBwbGljYW50In0.c2ln"
    assert requests.post(f"{api}/things", json={}, timeout=5,
                         headers={"Authorization": f"Bearer {bearer}"}).status_code == 201
    assert requests.get(f"{api}/broken", timeout=5).status_code == 500
    # Each line is printed once the answer is sent: it may come a moment after the client has it.
    out = err = ""
    deadline = time.monotonic() + 5
    while len(described(out)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
        captured = capsys.readouterr()
        out, err = out + captured.out, err + captured.err
    first, second = described(out)
    assert {k: first[k] for k in ("who", "method", "path", "status")} == {
        "who": "citizen-1 (applicant)", "method": "POST", "path": "/things", "status": 201}
    assert {k: second[k] for k in ("who", "method", "path", "status")} == {
        "who": "anonymous", "method": "GET", "path": "/broken", "status": 500}
    assert all(isinstance(d["ms"], float) and isinstance(d["started"], float)
               for d in (first, second))
    assert bearer not in out + err
    assert '"POST /things HTTP/1.1"' not in err  # the stdlib's access line is gone

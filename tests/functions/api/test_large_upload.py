"""The big one: a 1 GiB construction drawing, end to end, with the API's memory flat.

The API runs as it does under `make run`: `chalice local` in its own process, against the
session's local cloud. The test streams deterministic bytes straight to S3 with the presigned
part URLs (never holding a part, let alone the file, in memory), completes the upload, and
polls the application until the attachment check (S3 ObjectCreated → functions/
attachment_check, in the cloud's process) has hashed it. The API process's peak resident
memory (VmHWM, reset before the upload's API calls) must grow by less than 32 MiB while 1 GiB
goes by: an API that read the object, a part of it, or buffered a response of it would not.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from infra.demo import APPLICATION
from tests.support.network import free_port
from tests.support.polling import SLOW_TIMEOUT, eventually

pytestmark = [pytest.mark.integration, pytest.mark.large]

MiB = 1024 * 1024
GiB = 1024 * MiB
CHUNK = MiB
DWG_HEADER = b"AC1032"  # AutoCAD 2018 drawing
MEMORY_BUDGET = 32 * MiB


class DrawingBytes:
    """A deterministic DWG-looking file of `size` bytes, made chunk by chunk on demand.

    Chunk `i` is a fixed random block with `i` written at its start (the first chunk starts
    with the DWG header), so no two chunks are alike and nothing needs to be kept.
    """

    def __init__(self, size: int, seed: int = 2026) -> None:
        self.size = size
        self._block = random.Random(seed).randbytes(CHUNK)

    def chunk(self, index: int) -> bytes:
        prefix = DWG_HEADER if index == 0 else index.to_bytes(8, "big")
        start = index * CHUNK
        return (prefix + self._block[len(prefix):])[: min(CHUNK, self.size - start)]

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes from `start` (a multiple of the chunk size) to `end`, chunk by chunk."""
        end = self.size if end is None else end
        for index in range(start // CHUNK, -(-end // CHUNK)):
            yield self.chunk(index)

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for piece in self.chunks():
            digest.update(piece)
        return digest.hexdigest()


class PartBody:
    """One part as a file-like body with a length: requests sends it with Content-Length
    (S3 wants one for a part) and reads it a block at a time."""

    def __init__(self, drawing: DrawingBytes, start: int, end: int) -> None:
        self._length = end - start
        self._pieces = drawing.chunks(start, end)
        self._buffer = memoryview(b"")

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        if not self._buffer:
            self._buffer = memoryview(next(self._pieces, b""))
        size = len(self._buffer) if size is None or size < 0 else size
        piece, self._buffer = self._buffer[:size], self._buffer[size:]
        return bytes(piece)


class PeakMemory:
    """The peak resident memory of a Linux process, measured from a reset."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.baseline = 0

    def _status(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
        raise LookupError(field)

    def reset(self) -> None:
        """Start measuring: the high-water mark drops to what the process holds now."""
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        self.baseline = self._status("VmRSS")

    def growth(self) -> int:
        """How far above the reset point the process's resident memory went."""
        return self._status("VmHWM") - self.baseline


class Portal:
    """A signed-in caller of the API in its own process."""

    def __init__(self, base: str, sub: str, role: str, **claims: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = "Bearer " + self.call(
            "POST", "/dev/token", {"sub": sub, "role": role, **claims})["token"]

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        answer = self.session.request(method, f"{self.base}{path}", json=body, timeout=120)
        assert answer.status_code == expect, f"{method} {path}: {answer.text}"
        return answer.json()


@pytest.fixture(scope="module")
def api(cloud: Any, seeded: None) -> Iterator[tuple[str, PeakMemory]]:
    """The API in its own process (`chalice local`, as `make run` starts it)."""
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("measuring a process's peak memory needs Linux's /proc")
    from infra.localcloud.__main__ import start_api, wait_healthy

    port = free_port()
    process = start_api(Path(cloud.outputs["OutputsDir"]), "127.0.0.1", port)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", process)
        yield f"http://127.0.0.1:{port}", PeakMemory(process.pid)
    finally:
        process.terminate()
        process.wait(10)


def put_parts(citizen: Portal, application_id: str, drawing: DrawingBytes, sha256: str,
              material: str) -> tuple[str, list[dict[str, Any]]]:
    """Request the part URLs and PUT every part straight to S3: the attachment id and the
    parts with their ETags."""
    plan = citizen.call("POST", f"/applications/{application_id}/attachments", {
        "materialId": material, "fileName": f"{material}.dwg", "contentType": "image/vnd.dwg",
        "sizeBytes": drawing.size, "sha256": sha256}, expect=201)
    size = plan["partSizeBytes"]
    assert len(plan["parts"]) == -(-drawing.size // size)
    etags = []
    for part in plan["parts"]:
        start = (part["partNumber"] - 1) * size
        body = PartBody(drawing, start, min(start + size, drawing.size))
        put = requests.put(part["url"], data=body, timeout=120)
        assert put.status_code == 200, put.text
        etags.append({"partNumber": part["partNumber"], "etag": put.headers["ETag"]})
    return plan["attachmentId"], etags


def complete(citizen: Portal, application_id: str, attachment_id: str,
             parts: list[dict[str, Any]], expect: int = 200) -> dict[str, Any]:
    return citizen.call("POST", f"/applications/{application_id}/attachments/{attachment_id}"
                                f"/complete", {"parts": parts}, expect=expect)


def upload_drawing(citizen: Portal, application_id: str, drawing: DrawingBytes,
                   sha256: str, material: str) -> dict[str, Any]:
    """Upload the whole drawing and complete it; the complete answer."""
    attachment_id, etags = put_parts(citizen, application_id, drawing, sha256, material)
    done = complete(citizen, application_id, attachment_id, etags)
    assert done["status"] in {"VERIFYING", "STORED", "REJECTED"}, done
    return done


def checked(citizen: Portal, application_id: str, attachment_id: str,
            timeout: float = SLOW_TIMEOUT) -> dict[str, Any]:
    """The attachment as the applicant sees it once its check has finished."""
    def attachment() -> dict[str, Any] | None:
        seen = citizen.call("GET", f"/applications/{application_id}")
        found = next(a for a in seen["attachments"] if a["attachmentId"] == attachment_id)
        return found if found["status"] != "VERIFYING" else None

    return eventually(attachment, timeout=timeout, interval=0.5,
                      what=f"the check of attachment {attachment_id}")


@pytest.fixture
def application(api: tuple[str, PeakMemory], cloud: Any) -> Iterator[tuple[Portal, str]]:
    """A citizen's draft of the construction permit; its uploads are deleted afterwards, so
    the rest of the session does not carry a gigabyte."""
    citizen = Portal(api[0], "citizen-big", "applicant",
                     idNumber=APPLICATION["applicant"]["idNumber"])
    application_id = citizen.call("POST", "/applications", APPLICATION, expect=201)["id"]
    yield citizen, application_id
    s3, bucket = cloud.client("s3"), cloud.outputs["BucketName"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"applications/{application_id}/")
    for stored in listed.get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=stored["Key"])


def test_a_1_gib_drawing_is_verified_with_the_api_memory_flat(
        api: tuple[str, PeakMemory], application: tuple[Portal, str]) -> None:
    _, memory = api
    citizen, application_id = application

    # A drawing declared with the wrong SHA-256 (80 MiB: two parts, checked the same way).
    forged = DrawingBytes(80 * MiB, seed=7)
    done = upload_drawing(citizen, application_id, forged, hashlib.sha256(b"x").hexdigest(),
                          "fire-design")
    rejected = checked(citizen, application_id, done["attachmentId"])
    assert rejected["status"] == "REJECTED"
    assert "SHA-256" in rejected["problem"]

    # The 1 GiB drawing with its real SHA-256; the API's memory is measured from here on.
    drawing = DrawingBytes(GiB)
    started = time.perf_counter()
    sha256 = drawing.sha256()
    memory.reset()
    done = upload_drawing(citizen, application_id, drawing, sha256, "site-plan")
    uploaded = time.perf_counter()
    stored = checked(citizen, application_id, done["attachmentId"])
    verified = time.perf_counter()
    growth = memory.growth()
    print(f"\n1 GiB drawing: hashed and uploaded in {uploaded - started:.1f}s, checked "
          f"{verified - uploaded:.1f}s later; API peak memory +{growth / MiB:.1f} MiB")
    assert stored["status"] == "STORED", stored
    assert stored["sizeBytes"] == GiB
    assert growth < MEMORY_BUDGET, f"the API grew by {growth / MiB:.0f} MiB serving the upload"


def test_a_completion_s3_refuses_can_be_made_again(application: tuple[Portal, str]) -> None:
    citizen, application_id = application
    drawing = DrawingBytes(65 * MiB, seed=11)
    attachment_id, etags = put_parts(citizen, application_id, drawing, drawing.sha256(),
                                     "architectural-drawings")
    wrong = [etags[0], {**etags[1], "etag": '"0123456789abcdef0123456789abcdef"'}]
    refused = complete(citizen, application_id, attachment_id, wrong, expect=400)
    assert refused["code"] == "VALIDATION_FAILED"
    assert [e["path"] for e in refused["errors"]] == ["parts"]
    seen = citizen.call("GET", f"/applications/{application_id}")
    assert next(a for a in seen["attachments"]
                if a["attachmentId"] == attachment_id)["status"] == "UPLOADING"
    assert complete(citizen, application_id, attachment_id, etags)["status"] in {
        "VERIFYING", "STORED"}
    assert checked(citizen, application_id, attachment_id)["status"] == "STORED"

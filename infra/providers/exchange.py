"""A local data-sharing exchange (数据共享交换平台): the person register (人口库), the company
register (法人库) and another issuer's certificates, over signed HTTP.

    python -m infra.providers.exchange serve [--port 8300]

What `EXCHANGE_URL` may point at locally. Every request must be signed as the platform's
connector signs it (`yiwang.platform.exchange`: application key, timestamp, nonce, purpose,
case id, HMAC-SHA256); an unsigned or wrongly signed one is answered 401 and logged. The
application key is `EXCHANGE_APP_KEY` (else `yiwang`, the template's default), its secret
`EXCHANGE_APP_SECRET` (else `local-exchange-secret`).

    GET /people/{idNumber}            → {"idNumber","name","status","address"} or 404
    GET /companies/{creditCode}       → {"creditCode","name","status","legalRepresentative",...}
    GET /certificates?holder={code}   → {"certificates": [signed certificate, ...]}
    GET /issuers/{issuer}/key         → {"issuer","publicKeyPem"}
    PUT /people/{idNumber}            {"name","address"?} → adds a living sample person (the
                                      simulator's own loader, not the exchange's API)

The sample people include a deceased one, the sample companies a revoked and a cancelled one
(`PEOPLE`, `COMPANIES`). The certificates are signed by the simulator's own issuer
(`ISSUER`, an ECDSA P-256 key made at start), whose public key it publishes; `FORGED_HOLDER`
holds one signed by another key, which verification must refuse. Standard library and
`cryptography` only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from infra.providers import answer_json, serve_until_interrupted
from yiwang.platform.exchange import (
    COMPANY_ACTIVE,
    COMPANY_CANCELLED,
    COMPANY_REVOKED,
    PERSON_ALIVE,
    PERSON_DECEASED,
    BadExchangeSignature,
    Call,
    signed_headers,
    verify_request,
)

DEFAULT_PORT = 8300
LOCAL_APP_KEY = "yiwang"
LOCAL_SECRET = "local-exchange-secret"
ISSUER = "GD-ZRZYT"
"""The simulated other issuer: the provincial natural-resources department (广东省自然资源厅),
which issues land-use planning permits (建设用地规划许可证)."""

DECEASED_ID = "110101195001011239"
REVOKED_COMPANY = "91440106MA9W0RE002"
CANCELLED_COMPANY = "91440101MA9C0CAN0J"
BUILDER = "91440106MA9W0RT006"
"""The construction company of the demo: active, and holding a land-use planning permit."""
FORGED_HOLDER = "91440101MA9UA0GN02"
"""An active company whose land-use planning permit is signed by a key its issuer never
published (a forgery)."""

PEOPLE: dict[str, dict[str, str]] = {
    "11010519491231002X": {"name": "张伟", "status": PERSON_ALIVE,
                           "address": "广州市天河区华夏路16号"},
    "110101199003071233": {"name": "李娜", "status": PERSON_ALIVE,
                           "address": "北京市东城区东长安街1号"},
    "440106198501011237": {"name": "王芳", "status": PERSON_ALIVE,
                           "address": "广州市天河区天河路385号"},
    "440106198001010019": {"name": "陈建国", "status": PERSON_ALIVE,
                           "address": "广州市天河区体育西路103号"},
    "440106199003150028": {"name": "刘敏", "status": PERSON_ALIVE,
                           "address": "广州市越秀区中山五路219号"},
    DECEASED_ID: {"name": "赵德明", "status": PERSON_DECEASED, "address": "北京市东城区"},
}
COMPANIES: dict[str, dict[str, str]] = {
    "91440106MA59B1234B": {"name": "广州市天河区粤味餐饮有限公司", "status": COMPANY_ACTIVE,
                           "legalRepresentative": "王芳",
                           "address": "广州市天河区天河路385号",
                           "businessScope": "餐饮服务"},
    "91440101MA5CXY8Q03": {"name": "广州粤味餐饮管理有限公司", "status": COMPANY_ACTIVE,
                           "legalRepresentative": "王芳",
                           "address": "广州市越秀区北京路1号", "businessScope": "餐饮管理"},
    "91350100M000100Y43": {"name": "福州闽江科技有限公司", "status": COMPANY_ACTIVE,
                           "legalRepresentative": "林强", "address": "福州市鼓楼区五四路1号",
                           "businessScope": "软件开发"},
    BUILDER: {"name": "广州市天河建设发展有限公司", "status": COMPANY_ACTIVE,
              "legalRepresentative": "陈建国", "address": "广州市天河区体育西路103号",
              "businessScope": "房地产开发经营；建设工程施工"},
    FORGED_HOLDER: {"name": "广州市越秀置业有限公司", "status": COMPANY_ACTIVE,
                    "legalRepresentative": "刘敏", "address": "广州市越秀区中山五路219号",
                    "businessScope": "房地产开发经营"},
    REVOKED_COMPANY: {"name": "广州市天河区旧城贸易有限公司", "status": COMPANY_REVOKED,
                      "legalRepresentative": "李娜", "address": "广州市天河区员村一横路9号",
                      "businessScope": "批发和零售业"},
    CANCELLED_COMPANY: {"name": "广州市白云区已注销商贸有限公司", "status": COMPANY_CANCELLED,
                        "legalRepresentative": "李娜", "address": "广州市白云区机场路1号",
                        "businessScope": "商贸"},
}


def default_credentials() -> dict[str, str]:
    """The application keys the exchange knows, and their secrets."""
    return {os.environ.get("EXCHANGE_APP_KEY") or LOCAL_APP_KEY:
            os.environ.get("EXCHANGE_APP_SECRET") or LOCAL_SECRET}


def enrol(base_url: str, id_number: str, name: str, app_key: str, secret: str) -> None:
    """Add a living person to a running simulator's register (`PUT /people/{idNumber}`,
    signed as every request is): a test's or a bench's own applicant, whom intake's register
    check must find."""
    import urllib.request

    path = f"/people/{id_number}"
    body = json.dumps({"name": name}, ensure_ascii=False).encode("utf-8")
    headers = signed_headers(app_key, secret, "PUT", path, Call("ENROLMENT", id_number), body)
    request = urllib.request.Request(base_url.rstrip("/") + path, data=body, method="PUT",
                                     headers={**headers, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        if answer.status != 200:
            raise RuntimeError(f"the exchange simulator did not enrol {id_number}")


class Issuer:
    """Another department's certificate issuer: an ECDSA P-256 key pair, the public half
    published, signing certificates the way the platform signs its own (the digest of the
    canonical JSON of the certificate without its signature)."""

    def __init__(self, code: str) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        self.code = code
        self._key = ec.generate_private_key(ec.SECP256R1())

    def public_key_pem(self) -> str:
        from cryptography.hazmat.primitives import serialization

        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, document: dict[str, Any]) -> dict[str, Any]:
        """The certificate with its `signature` (base64 DER ECDSA-SHA256)."""
        import base64

        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        signature = self._key.sign(signed_bytes(document), ec.ECDSA(hashes.SHA256()))
        return {**document, "signature": base64.b64encode(signature).decode()}


def signed_bytes(document: dict[str, Any]) -> bytes:
    """What an external certificate's signature covers: its canonical JSON, sans signature."""
    body = {name: value for name, value in document.items() if name != "signature"}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def land_use_permit(holder: str, name: str, number: str) -> dict[str, Any]:
    """A land-use planning permit (建设用地规划许可证) as the issuer's system keeps it."""
    return {"issuer": ISSUER, "issuerName": "广东省自然资源厅",
            "type": "LAND_USE_PLANNING_PERMIT", "typeName": "建设用地规划许可证",
            "number": number, "holder": {"code": holder, "name": name},
            "issuedAt": "2026-03-02", "validUntil": "2031-03-01",
            "content": {"landUsePermitNumber": number,
                        "siteAddress": "广州市天河区珠江新城华夏路16号",
                        "siteAreaM2": 5200.5, "landUse": "公共管理与公共服务用地"}}


class Registers:
    """What the simulated exchange serves: the registers and the signed certificates."""

    def __init__(self) -> None:
        self.people = {number: dict(record) for number, record in PEOPLE.items()}
        self.issuer = Issuer(ISSUER)
        forger = Issuer(ISSUER)  # the same name, another key: a forged certificate
        self.certificates = {
            BUILDER: [self.issuer.sign(land_use_permit(
                BUILDER, COMPANIES[BUILDER]["name"], "地字第440106202600123号"))],
            FORGED_HOLDER: [forger.sign(land_use_permit(
                FORGED_HOLDER, COMPANIES[FORGED_HOLDER]["name"], "地字第440104202600777号"))],
        }

    def enrol(self, path: str, document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(status, document) for one verified PUT `/people/{idNumber}`: the simulator's way to
        add a living sample person (a test's own applicant), as a register is loaded."""
        parts = [unquote(p) for p in path.strip("/").split("/")]
        name = document.get("name")
        if len(parts) != 2 or parts[0] != "people" or not isinstance(name, str) or not name:
            return 400, {"message": "PUT /people/{idNumber} with a name"}
        self.people[parts[1]] = {"name": name, "status": PERSON_ALIVE,
                                 "address": str(document.get("address") or "")}
        return 200, {"idNumber": parts[1], **self.people[parts[1]]}

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """(status, document) for one verified GET."""
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if len(parts) == 2 and parts[0] == "people" and parts[1] in self.people:
            return 200, {"idNumber": parts[1], **self.people[parts[1]]}
        if len(parts) == 2 and parts[0] == "companies" and parts[1] in COMPANIES:
            return 200, {"creditCode": parts[1], **COMPANIES[parts[1]]}
        if parts == ["certificates"]:
            holder = (query.get("holder") or [""])[0]
            return 200, {"certificates": self.certificates.get(holder, [])}
        if len(parts) == 3 and parts[0] == "issuers" and parts[2] == "key" \
                and parts[1] == self.issuer.code:
            return 200, {"issuer": self.issuer.code, "publicKeyPem": self.issuer.public_key_pem()}
        return 404, {"message": "not in the register"}


def handler_for(registers: Registers, credentials: dict[str, str]
                ) -> type[BaseHTTPRequestHandler]:
    """The exchange's request handler: verify the signature, then answer from the registers."""

    class ExchangeApi(BaseHTTPRequestHandler):
        server_version = "YiwangExchangeSimulator/1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            try:
                app_key = verify_request(credentials, "GET", self.path, self.headers, b"")
            except BadExchangeSignature as refused:
                sys.stderr.write(f"exchange simulator: refused {self.path}: {refused}\n")
                return self._answer(401, {"message": str(refused)})
            url = urlsplit(self.path)
            status, document = registers.answer(url.path, parse_qs(url.query))
            sys.stderr.write(f"exchange simulator: {app_key} {url.path} → {status} (purpose "
                             f"{self.headers.get('X-Purpose')}, case "
                             f"{self.headers.get('X-Case-Id')})\n")
            self._answer(status, document)

        def do_PUT(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                verify_request(credentials, "PUT", self.path, self.headers, body)
                document = json.loads(body or b"{}")
            except (BadExchangeSignature, ValueError) as refused:
                return self._answer(401, {"message": str(refused)})
            self._answer(*registers.enrol(urlsplit(self.path).path, document))

        def _answer(self, status: int, document: dict[str, Any]) -> None:
            answer_json(self, status, document)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # each request is described above, with its purpose and case

    return ExchangeApi


def serve(port: int = DEFAULT_PORT, host: str = "127.0.0.1",
          credentials: dict[str, str] | None = None,
          registers: Registers | None = None) -> ThreadingHTTPServer:
    """The simulator's HTTP server (not yet serving: call `serve_forever`)."""
    server = ThreadingHTTPServer((host, port), handler_for(
        registers or Registers(), credentials or default_credentials()))
    server.daemon_threads = True
    return server


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.providers.exchange",
                                     description="Local data-sharing exchange simulator.")
    commands = parser.add_subparsers(dest="command", required=True)
    serving = commands.add_parser("serve", help="serve the registers (EXCHANGE_URL)")
    serving.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    server = serve(args.port)
    print(f"exchange simulator on http://127.0.0.1:{args.port} (Ctrl-C stops it)")
    return serve_until_interrupted(server)


if __name__ == "__main__":
    sys.exit(main())

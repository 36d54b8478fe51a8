"""电子证照: identifiers (GB/T 36904 structure, ISO 7064 MOD 37,36), canonical documents, and
issuing, storing and verifying certificates signed by a KMS key in the local cloud."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.data import CITIZEN_ID, FOOD_LICENCE, PLANNING_PERMIT
from tests.support.data import RESTAURANT as COMPANY
from tests.support.environment import environment
from yiwang.fulfilment import certificate_numbers, certificates
from yiwang.fulfilment.certificate_numbers import (
    InvalidCertificateNumber,
    check_character,
    make_number,
    parse_number,
)
from yiwang.fulfilment.certificates import canonical_bytes

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# Identifiers published by issuing systems (a national certificate standard's appendix A.2
# example, a provincial investment platform's file names), each with its check character.
PUBLISHED = [
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.002.S",
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
    "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0",
    "1.2.156.3005.2.11100000000013338W087.11370800MB28559184.37080001202411010001.001.3",
]


def iso7064_mod_37_36(data: str) -> str:
    """The hybrid system of ISO 7064 for M = 36, written from its definition (not stdnum's)."""
    modulus, product = 36, 36
    for character in data:
        total = (product + ALPHABET.index(character)) % modulus or modulus
        product = (total * 2) % (modulus + 1)
    return ALPHABET[(modulus + 1 - product) % modulus]


# ---------------------------------------------------------------------------------------------
# Identifiers and documents (no cloud)


@pytest.mark.parametrize("number", PUBLISHED)
def test_published_identifiers_check_out(number: str) -> None:
    parts = parse_number(number)
    body = parts.licence_type_code + parts.issuing_body_code + parts.serial + parts.version
    assert check_character(parts.licence_type_code, parts.issuing_body_code, parts.serial,
                           parts.version) == parts.check == iso7064_mod_37_36(body)
    assert str(parts) == number


def test_stdnum_agrees_with_the_definition() -> None:
    import random

    rng = random.Random(36903)
    for _ in range(500):
        data = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 70)))
        assert check_character(data, "", "", "") == iso7064_mod_37_36(data), data


@pytest.mark.parametrize("number", PUBLISHED)
def test_every_single_character_change_is_detected(number: str) -> None:
    start = len(certificate_numbers.PREFIX)
    for position in range(start, len(number)):
        if number[position] == ".":
            continue
        for replacement in ALPHABET.replace(number[position], ""):
            changed = number[:position] + replacement + number[position + 1:]
            with pytest.raises(InvalidCertificateNumber):
                parse_number(changed)
    for position in range(start, len(number) - 1):  # every transposition of two neighbours
        a, b = number[position], number[position + 1]
        if a != b and "." not in (a, b):
            swapped = number[:position] + b + a + number[position + 2:]
            with pytest.raises(InvalidCertificateNumber):
                parse_number(swapped)


def test_numbers_are_built_from_type_code_body_serial_and_version() -> None:
    number = make_number("11440100MB2D00127W007", "11440100MB2D00127W", "202600000001")
    body = "11440100MB2D00127W007" + "11440100MB2D00127W" + "202600000001" + "001"
    assert number == ("1.2.156.3005.2.11440100MB2D00127W007.11440100MB2D00127W.202600000001."
                      f"001.{iso7064_mod_37_36(body)}")
    assert parse_number(number).version == "001"
    for bad in ["1.2.156.3005.2.X.11440100MB2D00127W.1.001.A", None, "2.16.840.1",
                "1.2.156.3005.2.11440100MB2D00127W007.11440100MB2D00127W.2026.01.A"]:
        with pytest.raises(InvalidCertificateNumber):
            parse_number(bad)


def test_canonical_bytes_are_sorted_compact_utf8_and_stable() -> None:
    document = {"number": "1.2", "facts": [{"value": 5200.5, "field": "areaM2"}], "a": True,
                "holder": {"name": "广州市天河区某某餐饮有限公司", "codeKind": "001"}}
    expected = ('{"a":true,"facts":[{"field":"areaM2","value":5200.5}],'
                '"holder":{"codeKind":"001","name":"广州市天河区某某餐饮有限公司"},"number":"1.2"}')
    assert canonical_bytes(document) == expected.encode("utf-8")
    reordered = json.loads(json.dumps(dict(reversed(list(document.items())))))
    assert canonical_bytes(reordered) == canonical_bytes(document)
    assert canonical_bytes(json.loads(canonical_bytes(document))) == canonical_bytes(document)
    with pytest.raises(ValueError):
        canonical_bytes({"x": float("nan")})


def test_validity_ends_the_day_before_the_anniversary() -> None:
    assert certificates._years_later(date(2026, 11, 24), 5) == date(2031, 11, 23)
    assert certificates._years_later(date(2028, 2, 29), 5) == date(2033, 2, 28)
    assert certificates._years_later(date(2028, 1, 1), 5) == date(2032, 12, 31)


# ---------------------------------------------------------------------------------------------
# Against the local cloud


def new_key(kms: Any, spec: str = "ECC_NIST_P256") -> str:
    return kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY",
                          Description="test certificate signing key")["KeyMetadata"]["KeyId"]


@pytest.fixture(scope="module")
def stack(cloud: Any, cloud_env: dict[str, str], seeded: None) -> Iterator[SimpleNamespace]:
    """The deployed table and bucket, and a signing key (the template has none yet)."""
    kms = cloud.client("kms")
    key_id = new_key(kms)
    with environment({**cloud_env, "SIGNING_KEY_ID": key_id}):
        yield SimpleNamespace(kms=kms, s3=cloud.client("s3"), ddb=cloud.client("dynamodb"),
                              key_id=key_id, table=cloud.outputs["TableName"],
                              bucket=cloud.outputs["BucketName"], cloud=cloud)


def approved_application(status: str = "IN_REVIEW", item_code: str = FOOD_LICENCE,
                         kind: str = "LEGAL") -> str:
    """An application the departments have approved (written directly: the test is about
    what happens next)."""
    from yiwang.applications.records import ApplicationRecord
    from yiwang.catalogue.items import get_item

    item = get_item(item_code)
    application_id = f"YWTEST{uuid.uuid4().hex[:12].upper()}"
    now = datetime.now(UTC)
    if kind == "LEGAL":
        applicant = {"kind": "LEGAL", "name": "广州市天河区粤味餐饮有限公司", "creditCode": COMPANY,
                     "phone": "13812345678"}
        form = {"operatorName": "广州市天河区粤味餐饮有限公司", "creditCode": COMPANY,
                "legalRepresentative": "陈志强",
                "businessPremises": "广州市天河区体育西路101号首层",
                "premisesAreaM2": 120.5, "businessFormat": "餐饮服务经营者",
                "businessItems": ["热食类食品制售"], "onlineSales": False, "phone": "13812345678"}
    else:
        applicant = {"kind": "PERSON", "name": "张伟", "idNumber": CITIZEN_ID,
                     "phone": "13812345678"}
        form = {"projectName": "天河区珠江新城幼儿园改扩建工程", "siteAreaM2": 5200.5,
                "floorsAbove": 4, "contactName": "张伟", "phone": "13812345678"}
    code = applicant.get("creditCode") or applicant["idNumber"]
    ApplicationRecord(
        ApplicationRecord.key(application_id), "META", application_id=application_id,
        status=status, item_code=item.code, item_version=item.version, owner_sub="owner-1",
        applicant=applicant, form=form, delivery={"method": "PICKUP"}, created_at=now,
        gsi1pk=f"APPLICANT#{code}", gsi1sk=now.isoformat()).save()
    return application_id


def status_of(application_id: str) -> str:
    from yiwang.applications.records import ApplicationRecord

    return ApplicationRecord.load(application_id).status


def test_issue_signs_stores_and_moves_the_application_on(stack: SimpleNamespace) -> None:
    from yiwang.applications.lifecycle import audit_of

    application_id = approved_application()
    now = datetime(2026, 11, 23, 17, 30, tzinfo=UTC)  # 24 Nov in Shanghai
    record = certificates.issue(application_id, now, kms=stack.kms, s3=stack.s3)
    assert record.issued_now
    number = parse_number(record.number)
    assert number.issuing_body_code == "11440100MB2C98765R"  # 广州市市场监督管理局
    assert number.licence_type_code == "11440100MB2C98765R102"
    assert number.serial.startswith("2026") and len(number.serial) == 12
    assert number.version == "001"

    envelope = certificates.get(record.number)
    document = envelope["document"]
    assert document["holder"] == {"name": "广州市天河区粤味餐饮有限公司", "code": COMPANY,
                                  "codeKind": "001"}
    assert document["issuingBody"] == {"name": "广州市市场监督管理局", "code": "11440100MB2C98765R"}
    assert document["issueDate"] == "2026-11-24"
    assert document["validity"] == {"from": "2026-11-24", "to": "2031-11-23"}  # 5 years
    assert document["applicationId"] == application_id
    facts = {f["field"]: f["value"] for f in document["facts"]}
    assert facts["legalRepresentative"] == "陈志强" and facts["premisesAreaM2"] == 120.5
    assert "phone" not in facts and "businessItems" not in facts
    assert envelope["algorithm"] == "ECDSA_SHA_256"
    assert certificates.verify(envelope, kms=stack.kms) == (True, None)

    # DynamoDB: the certificate, and the pointer the application view shows.
    item = stack.ddb.get_item(TableName=stack.table, Key={
        "pk": {"S": f"CERT#{record.number}"}, "sk": {"S": "META"}})["Item"]
    assert item["document"]["S"].encode() == canonical_bytes(document)
    assert certificates.pointer_of(application_id) == {
        "number": record.number, "issuedAt": "2026-11-23T17:30:00+00:00"}
    # S3: the signed envelope.
    stored = json.loads(stack.s3.get_object(
        Bucket=stack.bucket, Key=f"certificates/{record.number}.json")["Body"].read())
    assert stored == envelope
    # The application moved on, audited.
    assert status_of(application_id) == "CERTIFICATE_ISSUED"
    events = [(a.event, a.from_status, a.to_status) for a in audit_of(application_id)]
    assert events == [("CERTIFICATE_ISSUED", "IN_REVIEW", "CERTIFICATE_ISSUED")]


def test_anyone_verifies_offline_with_the_public_key(stack: SimpleNamespace) -> None:
    record = certificates.issue(approved_application(status="PAID", item_code=PLANNING_PERMIT,
                                                     kind="PERSON"), kms=stack.kms, s3=stack.s3)
    envelope = json.loads(stack.s3.get_object(Bucket=stack.bucket,
                                              Key=record.s3_key)["Body"].read())
    assert envelope["document"]["holder"]["codeKind"] == "111"
    # What an outsider does: only the envelope, `cryptography`, no AWS.
    public_key = serialization.load_pem_public_key(envelope["publicKeyPem"].encode())
    canonical = json.dumps(envelope["document"], sort_keys=True, ensure_ascii=False,
                           separators=(",", ":")).encode()
    assert hashlib.sha256(canonical).hexdigest() == envelope["digest"]
    # A standard ECDSA-SHA256 signature of the document's canonical bytes (KMS signed their
    # digest as a DIGEST).
    public_key.verify(base64.b64decode(envelope["signature"]), canonical,
                      ec.ECDSA(hashes.SHA256()))
    # The key in the envelope is the platform's key in KMS.
    kms_key = stack.kms.get_public_key(KeyId=stack.key_id)
    assert serialization.load_der_public_key(kms_key["PublicKey"]).public_numbers() == \
        public_key.public_numbers()


def leaves(value: Any, path: tuple = ()) -> Iterator[tuple]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield from leaves(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from leaves(child, (*path, index))
    else:
        yield path


def changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    return value[:-1] + ("1" if value[-1:] != "1" else "2")


def test_any_changed_byte_makes_it_invalid(stack: SimpleNamespace) -> None:
    record = certificates.issue(approved_application(), kms=stack.kms, s3=stack.s3)
    envelope = certificates.get(record.number)
    assert certificates.verify(envelope, kms=stack.kms) == (True, None)
    paths = list(leaves(envelope["document"]))
    assert len(paths) > 20
    for path in paths:
        tampered = json.loads(json.dumps(envelope))
        target = tampered["document"]
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = changed(target[path[-1]])
        valid, reason = certificates.verify(tampered, kms=stack.kms)
        assert not valid and reason, path
    # One byte of the stored file, flipped inside the document's text.
    raw = json.dumps(envelope, ensure_ascii=False).encode()
    at = raw.index("粤味".encode())
    flipped = raw[:at] + "粤昧".encode() + raw[at + len("粤味".encode()):]
    valid, reason = certificates.verify(json.loads(flipped), kms=stack.kms)
    assert not valid and "changed" in reason
    # A wrong number is reported as such (its check character no longer matches).
    renumbered = json.loads(json.dumps(envelope))
    renumbered["document"]["number"] = renumbered["document"]["number"][:-1] + (
        "A" if renumbered["document"]["number"][-1] != "A" else "B")
    valid, reason = certificates.verify(renumbered, kms=stack.kms)
    assert not valid and "check character" in reason
    # The signature itself, one bit flipped.
    signature = bytearray(base64.b64decode(envelope["signature"]))
    signature[10] ^= 0x01
    valid, _ = certificates.verify({**envelope, "signature": base64.b64encode(signature).decode()},
                                   kms=stack.kms)
    assert not valid
    assert certificates.verify({**envelope, "signature": "not base64!"}, kms=stack.kms)[0] is False
    assert certificates.verify({"document": envelope["document"]}, kms=stack.kms)[0] is False


def test_a_signature_from_another_key_is_invalid(stack: SimpleNamespace) -> None:
    record = certificates.issue(approved_application(), kms=stack.kms, s3=stack.s3)
    envelope = certificates.get(record.number)
    other = new_key(stack.kms)
    digest = hashlib.sha256(canonical_bytes(envelope["document"])).digest()
    forged_signature = stack.kms.sign(KeyId=other, Message=digest, MessageType="DIGEST",
                                      SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    other_pem = serialization.load_der_public_key(
        stack.kms.get_public_key(KeyId=other)["PublicKey"]).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    forged = {**envelope, "signature": base64.b64encode(forged_signature).decode(),
              "keyId": other, "publicKeyPem": other_pem}
    # Consistent in itself (its own key verifies it) ...
    serialization.load_pem_public_key(other_pem.encode()).verify(
        forged_signature, canonical_bytes(envelope["document"]), ec.ECDSA(hashes.SHA256()))
    # ... but not signed by the platform's key, which is the only one trusted.
    valid, reason = certificates.verify(forged, kms=stack.kms)
    assert not valid and "platform's key" in reason
    assert certificates.verify({**envelope, "algorithm": "RSASSA_PSS_SHA_256"},
                               kms=stack.kms)[0] is False


def test_concurrent_issues_get_distinct_serials(stack: SimpleNamespace) -> None:
    ids = [approved_application() for _ in range(10)]
    numbers: dict[str, str] = {}
    errors: list[BaseException] = []

    def issue(application_id: str) -> None:
        try:
            numbers[application_id] = certificates.issue(application_id, kms=stack.kms,
                                                         s3=stack.s3).number
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=issue, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    serials = [parse_number(n).serial for n in numbers.values()]
    assert len(set(serials)) == 10
    assert {parse_number(n).issuing_body_code for n in numbers.values()} == {"11440100MB2C98765R"}
    assert all(status_of(i) == "CERTIFICATE_ISSUED" for i in ids)


def test_a_retried_issue_returns_the_same_certificate(stack: SimpleNamespace) -> None:
    from yiwang.applications.lifecycle import audit_of

    application_id = approved_application(status="PAID", item_code=PLANNING_PERMIT,
                                          kind="PERSON")
    first = certificates.issue(application_id, kms=stack.kms, s3=stack.s3)
    again = certificates.issue(application_id, kms=stack.kms, s3=stack.s3)
    assert first.issued_now and not again.issued_now
    assert again.number == first.number and again.signature == first.signature

    # Concurrent duplicates (a retry racing the first attempt): still one certificate.
    racing = approved_application()
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(certificates.issue(
        racing, kms=stack.kms, s3=stack.s3).number)) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 5 and len(set(results)) == 1
    for application in (application_id, racing):
        events = [a.event for a in audit_of(application)]
        assert events.count("CERTIFICATE_ISSUED") == 1
    held = stack.ddb.query(TableName=stack.table, IndexName="ListIndex",
                           KeyConditionExpression="gsi1pk = :h",
                           ExpressionAttributeValues={":h": {"S": f"CERTHOLDER#{COMPANY}"}})
    assert [i["number"]["S"] for i in held["Items"]].count(results[0]) == 1


def test_an_application_not_approved_gets_none(stack: SimpleNamespace) -> None:
    from yiwang.platform.errors import ApplicationNotFound, Conflict

    application_id = approved_application(status="SUBMITTED")
    with pytest.raises(Conflict):
        certificates.issue(application_id, kms=stack.kms, s3=stack.s3)
    assert certificates.pointer_of(application_id) is None
    assert status_of(application_id) == "SUBMITTED"
    with pytest.raises(ApplicationNotFound):
        certificates.issue("YWNONE", kms=stack.kms, s3=stack.s3)


def test_an_rsa_signing_key_works_too(stack: SimpleNamespace) -> None:
    rsa_key = new_key(stack.kms, "RSA_2048")
    with environment({"SIGNING_KEY_ID": rsa_key}):
        record = certificates.issue(approved_application(), kms=stack.kms, s3=stack.s3)
        envelope = certificates.get(record.number)
        assert envelope["algorithm"] == "RSASSA_PSS_SHA_256"
        assert certificates.verify(envelope, kms=stack.kms) == (True, None)
    # The platform's key (ECC) does not vouch for what the RSA key signed.
    assert certificates.verify(envelope, kms=stack.kms)[0] is False


def test_the_function_issues_through_lambda(stack: SimpleNamespace) -> None:
    from infra.localcloud.packaging import upload_code
    from infra.localcloud.server import REPO_ROOT

    cloud, lambda_ = stack.cloud, stack.cloud.client("lambda")
    key = upload_code(REPO_ROOT / "functions/certificate_issue", lambda k, b: stack.s3.put_object(
        Bucket="yiwang-deployment", Key=k, Body=b))
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"Service": "lambda.amazonaws.com"}}]}
    role = cloud.client("iam").create_role(RoleName=f"cert-{uuid.uuid4().hex[:8]}",
                                           AssumeRolePolicyDocument=json.dumps(trust))
    name = f"certificate-issue-{uuid.uuid4().hex[:8]}"
    lambda_.create_function(
        FunctionName=name, Runtime="python3.12", Role=role["Role"]["Arn"], Handler="app.handler",
        Code={"S3Bucket": "yiwang-deployment", "S3Key": key}, Timeout=30,
        Layers=[cloud.outputs["DomainLayerArn"]],
        Environment={"Variables": {"STAGE": "local", "TABLE_NAME": stack.table,
                                   "BUCKET_NAME": stack.bucket, "SIGNING_KEY_ID": stack.key_id,
                                   "POWERTOOLS_SERVICE_NAME": "yiwang",
                                   "POWERTOOLS_METRICS_NAMESPACE": "Yiwang"}})
    # A function just created is Pending until Lambda has it ready; a caller waits, as here.
    lambda_.get_waiter("function_active_v2").wait(FunctionName=name,
                                                  WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    application_id = approved_application()
    answers, emitted = [], []
    for _ in range(2):  # the second call is Step Functions retrying the Task
        answer = lambda_.invoke(FunctionName=name, LogType="Tail",
                                Payload=json.dumps({"applicationId": application_id}))
        assert "FunctionError" not in answer, answer["Payload"].read()
        answers.append(json.loads(answer["Payload"].read()))
        # The invocation's log, as its caller reads it (the metric's EMF line is printed last).
        log = base64.b64decode(answer["LogResult"]).decode()
        emitted.append(log.count('"CertificatesIssued"'))
    assert emitted[0] >= 1 and emitted[1] == 0  # the metric counts new certificates only
    assert answers[0] == answers[1]
    assert parse_number(answers[0]["number"])
    assert datetime.fromisoformat(answers[0]["issuedAt"]).tzinfo is not None
    assert status_of(application_id) == "CERTIFICATE_ISSUED"
    missing = lambda_.invoke(FunctionName=name, Payload=json.dumps({"applicationId": "YWNONE"}))
    assert missing["FunctionError"] == "Unhandled"
    assert json.loads(missing["Payload"].read())["errorType"] == "ApplicationNotFound"

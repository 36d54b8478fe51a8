"""The local cloud's patches of moto (and of chalice's test client): each one still matches the
library it was written for, is in effect, and is applied once; KMS signs digests as KMS does.

When a moto upgrade renames, removes or reshapes something patched, a test here fails and
names it (`replace` refuses a missing attribute when the cloud starts, too)."""

from __future__ import annotations

import hashlib
import inspect
import os
from typing import Any

import pytest

from infra.localcloud import patches

pytestmark = pytest.mark.integration

_CFN = ["cls", "resource_name", "cloudformation_json", "account_id", "region_name", "kwargs"]
EXPECTED: dict[str, list[str] | str | None] = {
    # What each patch found: the original's parameter names, the type of a replaced value,
    # or None for an attribute the patch adds.
    "moto.stepfunctions.models.stepfunctions_backends": "BackendDict",
    "BaseExecutionWorkerCommunication._reflect_execution_status": ["self"],
    "LayerVersion.physical_resource_id": None,
    "LambdaFunction.create_from_cloudformation_json": _CFN,
    "Key.create_from_cloudformation_json": _CFN,
    "FakeBucket.create_from_cloudformation_json": _CFN,
    "DynamoDBBackend.put_item": [
        "self", "table_name", "item_attrs", "expected", "condition_expression",
        "expression_attribute_names", "expression_attribute_values", "overwrite",
        "return_values_on_condition_check_failure"],
    "DynamoDBBackend.update_item": [
        "self", "table_name", "key", "update_expression", "expression_attribute_names",
        "expression_attribute_values", "attribute_updates", "expected", "condition_expression",
        "return_values_on_condition_check_failure"],
    "DynamoDBBackend.delete_item": [
        "self", "table_name", "key", "expression_attribute_names", "expression_attribute_values",
        "condition_expression", "return_values_on_condition_check_failure"],
    # Locked, and cancelled by putting back only the items it names (transactions.py).
    "DynamoDBBackend.transact_write_items": ["self", "transact_items"],
    "DynamoDBBackend.batch_write_item": ["self"],
    "Table.all_items": ["self"],
    "Table.query": [
        "self", "hash_key", "range_comparison", "range_objs", "limit", "exclusive_start_key",
        "scan_index_forward", "projection_expressions", "index_name", "consistent_read",
        "filter_expression", "hash_key_conditions", "range_key_conditions", "filter_kwargs"],
    "Table.sorted_items": ["self", "hash_key_attrs", "range_key_attrs", "items"],
    "LambdaFunction.invoke": ["self", "body", "request_headers", "response_headers"],
    "LambdaSimpleBackend.invoke": [
        "self", "function_name", "qualifier", "body", "headers", "response_headers"],
    "moto.s3.notifications.send_event": ["account_id", "event_name", "bucket", "key"],
    "moto.s3.notifications._invoke_awslambda": [
        "account_id", "event_body", "fn_arn", "region_name"],
    "StreamShard.add": ["self", "old", "new"],
    "KmsResponse.sign": ["self"],
    "KmsResponse.verify": ["self"],
    "ECDSAPrivateKey._ECDSAPrivateKey__hash_algorithm": ["self", "signing_algorithm"],
    "RSAPrivateKey._RSAPrivateKey__padding_and_hash_algorithm": ["self", "signing_algorithm"],
    "BaseClient._patched_env_vars": ["self", "environment_variables"],
    # Powertools' metric buffers, one per invocation (runtime.py).
    "AmazonCloudWatchEMFProvider.metric_set": None,
    "AmazonCloudWatchEMFProvider.dimension_set": None,
    "AmazonCloudWatchEMFProvider.metadata_set": None,
    "AmazonCloudWatchEMFProvider.dimension_sets": None,
    "LocalGateway.handle_request": ["self", "method", "path", "headers", "body"],
    "DynamoHandler.call_action": ["self"],
    "SQSBackend.send_message": [
        "self", "queue_name", "message_body", "message_attributes", "delay_seconds",
        "deduplication_id", "group_id", "system_attributes", "validate_group_id"],
    "SQSBackend.send_message_batch": ["self", "queue_name", "entries"],
    "SQSBackend.delete_message": ["self", "queue_name", "receipt_handle"],
    "SQSBackend.delete_message_batch": ["self", "queue_name", "receipts"],
    "SQSBackend.change_message_visibility": [
        "self", "queue_name", "receipt_handle", "visibility_timeout"],
    "SQSBackend.receive_message": [
        "self", "queue_name", "count", "wait_seconds_timeout", "visibility_timeout",
        "message_attribute_names"],
}


def parameters(function: Any) -> list[str]:
    return list(inspect.signature(getattr(function, "__func__", function)).parameters)


def test_every_patch_matches_what_it_replaces_and_is_in_effect(cloud: Any) -> None:
    applied = {patch.qualname: patch for patch in patches.applied()}
    assert set(applied) == set(EXPECTED), "a patch without its expectation here, or gone"
    for name, patch in applied.items():
        expected = EXPECTED[name]
        if expected is None:
            assert patch.original is patches.MISSING, name
        elif isinstance(expected, str):
            assert type(patch.original).__name__ == expected, name
        else:
            assert parameters(patch.original) == expected, name
        assert patch.in_effect(), f"{name} was replaced again since"


def test_the_simple_lambda_backend_gets_the_full_backends_invoke(cloud: Any) -> None:
    from moto.awslambda.models import LambdaBackend
    from moto.awslambda_simple.models import LambdaSimpleBackend

    assert LambdaSimpleBackend.invoke is LambdaBackend.invoke
    assert parameters(LambdaBackend.invoke) == EXPECTED["LambdaSimpleBackend.invoke"]


def test_starting_a_second_cloud_patches_nothing_twice(cloud: Any) -> None:
    from infra.localcloud import server

    before = patches.applied()
    server.route_lambda_to(cloud.server.runtime)
    server.serialise_table_writes()
    server.keep_function_layers()
    assert patches.applied() == before
    assert all(patch.in_effect() for patch in before)


class Library:
    def method(self, value: int) -> int:
        return value


def test_a_patch_is_made_once() -> None:
    made: list[Any] = []

    def make(original: Any) -> Any:
        made.append(original)
        return lambda self, value: original(self, value) + 1

    first = patches.replace(Library, "method", make)
    again = patches.replace(Library, "method", make)
    assert again is first and len(made) == 1
    assert Library().method(1) == 2 and first.in_effect()


def test_a_patch_of_something_gone_is_refused() -> None:
    with pytest.raises(patches.PatchOutdated, match="Library.renamed is gone"):
        patches.replace(Library, "renamed", lambda original: original)
    with pytest.raises(patches.PatchOutdated, match="exists now"):
        patches.replace(Library, "__init__", lambda original: original, adds=True)


def test_kms_signs_a_digest_as_a_digest(cloud: Any) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding

    kms = cloud.client("kms")
    document = "电子证照".encode() * 2000  # larger than KMS's 4096-byte message limit
    digest = hashlib.sha256(document).digest()
    for spec, algorithm in (("ECC_NIST_P256", "ECDSA_SHA_256"),
                            ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256")):
        key = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        public = serialization.load_der_public_key(kms.get_public_key(KeyId=key)["PublicKey"])
        signed = kms.sign(KeyId=key, Message=digest, MessageType="DIGEST",
                          SigningAlgorithm=algorithm)["Signature"]
        extra = (padding.PKCS1v15(), hashes.SHA256()) if spec.startswith("RSA") else (
            ec.ECDSA(hashes.SHA256()),)
        public.verify(signed, document, *extra)  # a signature of the document itself
        assert kms.verify(KeyId=key, Message=digest, MessageType="DIGEST", Signature=signed,
                          SigningAlgorithm=algorithm)["SignatureValid"]
        raw = kms.sign(KeyId=key, Message=b"short message", MessageType="RAW",
                       SigningAlgorithm=algorithm)["Signature"]
        public.verify(raw, b"short message", *extra)  # RAW is hashed by KMS, as before


def test_chalice_test_client_keeps_the_environment_in_place(cloud: Any) -> None:
    from chalice.test import BaseClient

    environ = os.environ
    with BaseClient._patched_env_vars(None, {"YIWANG_PATCH_PROBE": "set"}):
        assert os.environ is environ and os.environ["YIWANG_PATCH_PROBE"] == "set"
    assert "YIWANG_PATCH_PROBE" not in os.environ


def test_a_started_cloud_forgets_the_functions_clients(cloud: Any) -> None:
    from infra.localcloud.server import forget_process_clients
    from yiwang.platform.clients import client

    kept = client("sts")
    assert client("sts") is kept
    forget_process_clients()
    assert client("sts") is not kept

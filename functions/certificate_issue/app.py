"""电子证照 step of the application lifecycle: issue, sign and store the certificate of an
approved application (PAID, or IN_REVIEW for items without a fee)."""

from __future__ import annotations

from typing import Any

from yiwang.fulfilment import certificates
from yiwang.platform.observability import MetricUnit, lambda_entry, logger, metrics


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Event: `{"applicationId"}`. Returns `{"number", "issuedAt"}`; a retried invocation
    returns the certificate already issued, never a second one.

    Errors (the `errorType` ASL matches): `ApplicationNotFound`; `Conflict` when the
    application is in no status to get a certificate."""
    logger.set_correlation_id(event["applicationId"])
    record = certificates.issue(event["applicationId"])
    if record.issued_now:
        metrics.add_metric(name="CertificatesIssued", unit=MetricUnit.Count, value=1)
    logger.info("certificate issued" if record.issued_now else "certificate already issued",
                extra={"number": record.number})
    return {"number": record.number, "issuedAt": record.issued_at.isoformat()}

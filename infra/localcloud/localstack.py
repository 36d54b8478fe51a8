"""`make deploy-localstack`: the same template, deployed to a LocalStack on :4566.

Uses localstack-client's endpoint for the CloudFormation, S3 and IAM APIs and the same
packaging and deploy steps as the embedded local cloud; outputs go to `.local/outputs.json`.
LocalStack runs Lambda functions in Docker, so it needs Docker; it is not part of CI.
Its functions are given the provider simulators at their usual ports on the Docker host
(`python -m infra.providers.payment serve`, `python -m infra.providers.courier serve`,
`python -m infra.providers.sms serve`).
"""

from __future__ import annotations

import sys
import urllib.request

import localstack_client.config

from infra.localcloud import deploy
from infra.localcloud.simulators import SimulatorUrls
from infra.providers import courier, exchange, payment, sms

# Lambda runs in Docker there: the simulators on this machine are the Docker host.
SIMULATORS = SimulatorUrls(payment=f"http://host.docker.internal:{payment.DEFAULT_PORT}",
                           courier=f"http://host.docker.internal:{courier.DEFAULT_PORT}",
                           sms=f"http://host.docker.internal:{sms.DEFAULT_PORT}",
                           exchange=f"http://host.docker.internal:{exchange.DEFAULT_PORT}")


def main() -> int:
    endpoint = localstack_client.config.get_service_endpoint("cloudformation")
    try:
        urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=3)
    except OSError as error:
        print(f"error: no LocalStack answers at {endpoint} ({error}). Start it first "
              f"(`localstack start` or its Docker image).", file=sys.stderr)
        return 2
    outputs = deploy.deploy(endpoint, simulators=SIMULATORS, stack_name="yiwang-localstack",
                            stage="local")
    for key, value in outputs.items():
        print(f"  {key:26} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

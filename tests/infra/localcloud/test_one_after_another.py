"""Two local clouds, one after the other, in one process (as `make bench` runs its parts): the
second one is used successfully and is as fresh as the first.

Run in a child process: moto's backends belong to the process, and the session's cloud (the
`cloud` fixture) may be serving in this one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[3]

# A pynamodb model of the deployed table, as the functions and the bench use: its connection is
# made on first use and kept while the table's name stays the same, so the second cloud (on
# another port) shows whether it still calls the first.
_SCRIPT = textwrap.dedent("""
    import json, os, socket, sys, tempfile, warnings
    from pathlib import Path
    from unittest import mock

    from pynamodb.attributes import UnicodeAttribute
    from pynamodb.models import Model

    from infra.localcloud import deploy
    from infra.localcloud.server import LocalCloud

    warnings.filterwarnings("ignore")


    class Probe(Model):
        class Meta:
            table_name = ""

        pk = UnicodeAttribute(hash_key=True)
        sk = UnicodeAttribute(range_key=True)


    def free_port():
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]


    def one_cloud(name):
        server = LocalCloud(port=free_port())
        server.start()
        try:
            outputs_dir = Path(tempfile.mkdtemp(prefix="yiwang-two-clouds-"))
            outputs = deploy.deploy(server.endpoint, simulators=server.simulators.urls,
                                    outputs_dir=outputs_dir, progress=lambda _: None)
            env = deploy.environment(deploy.read_outputs(outputs_dir), outputs_dir)
            with mock.patch.dict(os.environ, env):
                Probe.Meta.table_name = outputs["TableName"]
                seen = sorted(p.pk for p in Probe.scan())
                Probe(f"PROBE#{name}", "META").save()
                return {"table": outputs["TableName"], "seenBefore": seen,
                        "read": Probe.get(f"PROBE#{name}", "META").pk}
        finally:
            server.stop()


    print(json.dumps([one_cloud("first"), one_cloud("second")]))
""")


def _child_environment() -> dict[str, str]:
    # No AWS settings of the developer's (a profile, an endpoint): the clouds give their own.
    return {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "layers")])}


def test_a_second_cloud_in_the_same_process_is_fresh_and_reachable() -> None:
    done = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120,
                          env=_child_environment())
    assert done.returncode == 0, done.stderr[-3000:]
    first, second = json.loads(done.stdout.strip().splitlines()[-1])
    assert first["read"] == "PROBE#first"
    assert second["read"] == "PROBE#second"
    assert second["seenBefore"] == []  # nothing of the first cloud's is left in the second

"""`chalicelib.lazy`: concurrent first uses of a lazy module all see it whole (a threaded
server's first requests arrive together; one must not read a half-imported module)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pytest


def test_concurrent_first_reads_wait_for_the_import(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.lazy import lazy

    (tmp_path / "slow_domain_module.py").write_text(
        "import time\ntime.sleep(0.5)  # a module that takes a while to import\nVALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "slow_domain_module", raising=False)
    module = lazy("slow_domain_module")
    seen: list[Any] = []

    def read() -> None:
        try:
            seen.append(module.VALUE)
        except AttributeError as error:  # the half-imported module
            seen.append(error)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [42] * 8

from __future__ import annotations

from pathlib import Path

import pytest

from .peers import ServeProcess


@pytest.fixture
def serve(tmp_path: Path, request: pytest.FixtureRequest):
    """Factory: start `vscanner serve` for a profile; every server is stopped at teardown."""
    started: list[ServeProcess] = []

    def start(profile: str, aet: str = "VSCANNER", extra: list[str] | None = None) -> ServeProcess:
        n = len(started)
        server = ServeProcess(profile, tmp_path / f"store{n}", aet, tmp_path / f"serve{n}.log", extra)
        started.append(server)
        return server

    yield start
    for s in started:
        s.stop()
        if request.node.rep_call_failed if hasattr(request.node, "rep_call_failed") else False:
            print(s.log())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item.rep_call_failed = rep.failed

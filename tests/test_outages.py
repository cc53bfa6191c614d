"""Outages end runs quickly and truthfully: a dead LLM endpoint and a DuckDB file held by another process."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from pydantic import BaseModel

from digit_assets.engine.llm.openai_chat import OpenAIChatLLM
from digit_assets.engine.llm.port import LLMError, LLMUnavailable, Role
from digit_assets.store import Store, StoreLockedError
from tests.conftest import REPO_SPECS
from digit_assets.defs.synthesis.assets import synthetic_conversations
from tests.llm_helpers import build_catalog_database, fresh_copy, openai_resource
from tests.pipeline_helpers import resources
from tests.test_concurrent_runs import start_holder

ROOT = Path(__file__).resolve().parent.parent


def closed_port() -> int:
    """A loopback port nothing listens on (bound, read, released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Echo(BaseModel):
    text: str


ECHO = Role("echo", "Repeat the text.", _Echo, _Echo)


def test_a_refused_connection_is_reported_as_such_and_opens_the_breaker() -> None:
    llm = OpenAIChatLLM(model="m", base_url=f"http://127.0.0.1:{closed_port()}/v1", backoff_s=0.001, max_backoff_s=0.01)
    try:
        with pytest.raises(LLMError, match="connection refused"):
            llm.call(ECHO, _Echo(text="a"), seed=1)
        for _ in range(3):
            with pytest.raises(LLMError, match="connection refused"):
                llm.call(ECHO, _Echo(text="a"), seed=1)
        with pytest.raises(LLMUnavailable, match=r"is unavailable: 5 calls in a row failed, the last with .*connection refused"):
            llm.call(ECHO, _Echo(text="a"), seed=1)
        started = time.perf_counter()
        with pytest.raises(LLMUnavailable):  # open: no request goes out any more
            llm.call(ECHO, _Echo(text="a"), seed=1)
        assert time.perf_counter() - started < 0.5
        assert llm.meter.snapshot().get("echo", "requests") == 25  # 5 calls of 5 attempts, then none
    finally:
        llm.close()


def test_the_breaker_opens_when_the_failed_share_passes_the_limit() -> None:
    from digit_assets.engine.llm.openai_chat import CircuitBreaker

    breaker = CircuitBreaker(consecutive_failures=5, failed_share=0.5, min_calls=20, host="h")
    for index in range(19):  # alternate: never 5 in a row, 9 of 19 failed
        breaker.failed_call("x") if index % 2 else breaker.succeeded()
    breaker.succeeded()
    breaker.failed_call("x")  # 10 of 21
    breaker.failed_call("x")  # 11 of 22: not over half
    with pytest.raises(LLMUnavailable, match=r"12 of 23 calls failed \(over 50%\), the last with HTTP 503"):
        breaker.failed_call("HTTP 503")
    with pytest.raises(LLMUnavailable):
        breaker.check()


@pytest.fixture(scope="module")
def catalog_database(tmp_path_factory):
    return build_catalog_database(tmp_path_factory.mktemp("catalog"))


def test_synthesis_against_a_closed_port_fails_fast_with_the_cause(catalog_database, tmp_path) -> None:
    database = fresh_copy(catalog_database, tmp_path)
    llm = openai_resource(f"http://127.0.0.1:{closed_port()}/v1", backoff_s=0.5, max_backoff_s=30.0, cache=False)
    started = time.perf_counter()
    result = dg.materialize(
        [synthetic_conversations],
        partition_key="0",
        run_config={"ops": {"synthetic_conversations": {"config": {"conversations": 64}}}},
        instance=dg.DagsterInstance.ephemeral(),
        resources=resources(database, llm),
        raise_on_error=False,
    )
    elapsed = time.perf_counter() - started
    assert not result.success
    [failure] = [event for event in result.all_events if event.is_step_failure]
    error = failure.step_failure_data.error
    message = (error.cause or error).message
    assert "unavailable" in message and "connection refused" in message
    assert elapsed < 60, elapsed


def test_the_cli_fails_catalog_building_on_a_closed_port_with_a_non_zero_exit(tmp_path) -> None:
    env = {
        **os.environ,
        "DIGIT_TC_DATA_DIR": str(tmp_path / "data"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "DIGIT_TC_SPECS_DIR": str(REPO_SPECS),
        "DIGIT_TC_LLM_PROVIDER": "openai",
        "DIGIT_TC_LLM_MODEL": "m",
        "DIGIT_TC_LLM_BASE_URL": f"http://127.0.0.1:{closed_port()}/v1",
        "DIGIT_TC_LLM_CACHE": "0",
    }
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "digit_assets.cli", "materialize", "--job", "ingest_spec_file", "--job", "build_tool_catalog"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    elapsed = time.perf_counter() - started
    assert done.returncode != 0, done.stdout
    assert "FAILED build_tool_catalog" in done.stdout and "connection refused" in done.stdout, done.stdout
    print(f"CLI against a closed port: exit {done.returncode} after {elapsed:.1f}s")


def test_a_lock_wait_is_logged_and_its_timeout_is_a_setting(tmp_path, monkeypatch, caplog) -> None:
    database = tmp_path / "store.duckdb"
    monkeypatch.setenv("DIGIT_TC_LOCK_TIMEOUT_S", "2")
    assert Store(database).lock_timeout_s == 2.0
    holder = start_holder(database)
    try:
        with caplog.at_level(logging.WARNING, logger="digit_assets.store"):
            with pytest.raises(StoreLockedError, match="for 2s"):
                with Store(database).connect(read_only=True):
                    pass
        waits = [record.getMessage() for record in caplog.records if "is locked by another process" in record.getMessage()]
        assert waits and "store.duckdb" in waits[0] and "DIGIT_TC_LOCK_TIMEOUT_S" in waits[0]
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    monkeypatch.setenv("DIGIT_TC_LOCK_TIMEOUT_S", "soon")
    with pytest.raises(ValueError, match="DIGIT_TC_LOCK_TIMEOUT_S='soon'"):
        Store(database)

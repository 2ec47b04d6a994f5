"""`dialer run --metrics-port 0 --log-format json` as an operating system process, dialing
the Evo Voice sandbox on loopback: metrics scraped over HTTP, log lines parsed as JSON, and
the password never written anywhere."""

from __future__ import annotations

import base64
import json
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dialer.domain.clock import SystemClock
from dialer.sandbox.evo_config import DEFAULT_USERS, SandboxUser
from dialer.sandbox.evovoice import EvoSandbox
from tests.daemon_processes import start_run
from tests.e2e.test_daemon_process import FAST, environment, prepare
from tests.telephony_lines import evo_sandbox

PASSWORD = "Tr0ub4dor-3-horse-battery"
USER = SandboxUser(email="ops@sandbox.test", password=PASSWORD, roles=("Manager",))


@pytest.fixture
def sandbox() -> Iterator[tuple[EvoSandbox, str]]:
    with evo_sandbox(clock=SystemClock(), agents=3, model=FAST, users=(*DEFAULT_USERS, USER)) as pair:
        yield pair


def test_the_daemon_serves_metrics_and_logs_json_without_secrets(
    sandbox: tuple[EvoSandbox, str], tmp_path: Path
) -> None:
    _, url = sandbox
    env = environment(tmp_path, url)
    env.update(DIALER_EVOVOICE_USERNAME=USER.email, DIALER_EVOVOICE_PASSWORD=PASSWORD)
    prepare(tmp_path, env, records=8)
    env["DIALER_LOG_LEVEL"] = "DEBUG"
    process = start_run(env, tmp_path, "--json", "--metrics-port", "0", "--log-format", "json")
    try:
        metrics_url = None
        assert process.stderr is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while metrics_url is None:
            assert time.monotonic() < deadline and process.poll() is None, "".join(lines)
            line = process.stderr.readline()
            lines.append(line)
            found = re.search(r"serving Prometheus metrics on (http://\S+)", line)
            metrics_url = found.group(1) if found else None
        deadline = time.monotonic() + 60
        while True:
            body = httpx.get(metrics_url, timeout=5).text
            families = {f.name: f for f in text_string_to_metric_families(body)}
            placed = sum(s.value for s in families["dialer_calls_placed"].samples if s.name.endswith("_total"))
            if placed >= 3:
                break
            assert time.monotonic() < deadline, body
            time.sleep(0.2)
        assert families["dialer_agents"].samples[0].labels == {"campaign": "night"}
        assert families["dialer_info"].samples[0].labels["backend"] == "evovoice"
    finally:
        process.send_signal(signal.SIGTERM)
        out, rest = process.communicate(timeout=60)
    assert process.returncode == 0, rest
    assert json.loads(out)["stopped_by_signal"] is True
    logged = [json.loads(line) for line in "".join(lines).splitlines() + rest.splitlines() if line.startswith("{")]
    assert logged, "JSON log lines"
    assert all({"ts", "level", "logger", "message"} <= set(entry) for entry in logged)
    ticks = [e for e in logged if e.get("action") == "tick"]
    assert ticks and all(e["campaign"] == "night" and "placed" in e and "reason" in e for e in ticks)
    text = "".join(lines) + rest + out
    assert PASSWORD not in text
    # Basic auth on the wire is base64("user:password"): not logged either.
    assert base64.b64encode(f"{USER.email}:{PASSWORD}".encode()).decode() not in text

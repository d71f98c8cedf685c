"""Schemathesis against the live gateway (and a healthy simulated device), from /openapi.json:
no 5xx, every answer as described (status, content type, headers, schema), every error a
problem, bad input refused and good input taken."""

from __future__ import annotations

import asyncio
import os
import re
import sys

import pytest

from tests.conftest import login

# Fixed, so that a run can be repeated; FUZZ_SEED=... FUZZ_EXAMPLES=... explore further.
SEED = os.environ.get("FUZZ_SEED", "20261126")
EXAMPLES = os.environ.get("FUZZ_EXAMPLES", "25")  # per operation: about 20 s on 2 cores
NOT_FUZZED = [
    # would end the session the run is authenticated with (logout has tests of its own)
    "--exclude-path-regex", "logout$",
    # would add devices at whatever URL it makes up, which the gateway would then call: the
    # tests never let the gateway reach beyond loopback
    "--exclude-operation-id", "post_devices",
    # streams (Server-Sent Events, WebSocket) never end by themselves: each case would wait for
    # the request timeout; they have tests of their own
    "--exclude-path-regex", "/events(/ws)?$",
    # a webhook url's host is resolved when registering: a made-up name would be a DNS query
    # leaving the machine (tests/test_webhooks.py covers bad urls)
    "--exclude-operation-id", "post_webhooks",
    "--exclude-operation-id", "post_device_webhooks",
]
# A guard against a hung run, not a speed check: the run grows with every operation the
# mapping files add (about 20 s per 10 operations here).
RUN_LIMIT = 900


@pytest.mark.slow
async def test_schemathesis_finds_nothing(start_device, start_gateway, tmp_path):
    _, url = await start_device()
    # No login lockout, so that /login is fuzzed all along rather than answering 429; no
    # background health check.
    client = await start_gateway(url, login_max_failures=1_000_000, health_interval=0)
    token = await login(client)
    config = tmp_path / "schemathesis.toml"
    config.write_text(f"""
headers = {{ Authorization = "Bearer {token}" }}

# The per-device paths get the real device's name most of the time, any name otherwise.
[dictionaries.devices]
values = ["cam"]

[parameters]
"path.device_id" = {{ dictionary = "devices", probability = 0.7 }}

# A value outside the device's own ranges (GET shows them; the schema cannot) is a 400.
[[operations]]
include-path-regex = "/(ptz/move|imaging|focus)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409",
                                                     "429"]
""")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color",
        "run", str(client.make_url("/openapi.json")), "--checks", "all",
        "--max-examples", EXAMPLES, "--seed", SEED,
        # one worker: hypothesis in several threads trips a CPython 3.11 ast bug (SystemError)
        "--workers", "1",
        "--request-timeout", "10", "--generation-database", "none", *NOT_FUZZED,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=RUN_LIMIT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    report = output.decode(errors="replace")
    assert process.returncode == 0, report
    # every generated case passed every check (and some were generated at all)
    assert re.search(r"\b([1-9]\d*) generated, \1 passed", report), report

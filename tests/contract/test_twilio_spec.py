"""Every request the Twilio backend sends conforms to Twilio's own OpenAPI description.

The check uses openapi-core in-process against Twilio's own description of the 2010-04-01 API
(twilio/twilio-oai), trimmed to the operations the dialer uses and shipped in
``tests/data/twilio_api_v2010_calls.json`` (``scripts/trim_twilio_spec.py`` makes it): it
needs no Node toolchain (Prism does), validates exactly the requests
the real `twilio` library sends — paths, methods, query parameters and form bodies with their
types — and does not suffer Prism's false 422 on ``StatusCallbackEvent`` sent as repeated
form keys. On top of the spec (which allows undeclared properties) it asserts that every form
field and query parameter the client sends is one the spec declares for that operation.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest

from dialer.store.repository import SqlStore
from tests.integration.test_twilio import OWNED, World, make_world, place, wait_until_ended

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "tests" / "data" / "twilio_api_v2010_calls.json"


def _trim_script() -> Any:
    loaded = importlib.util.spec_from_file_location("trim_twilio_spec", ROOT / "scripts" / "trim_twilio_spec.py")
    assert loaded and loaded.loader
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def spec() -> tuple[Any, dict[str, Any]]:
    raw = json.loads(SPEC.read_text(encoding="utf-8"))
    return OpenAPI.from_dict(raw), raw


def test_the_shipped_spec_is_the_trimmed_original() -> None:
    """The file in tests/data is what scripts/trim_twilio_spec.py makes of Twilio's spec (when a copy
    of the full spec is at hand: ../shared/specs beside the project), and holds every operation used."""
    trim_twilio_spec = _trim_script()
    raw = json.loads(SPEC.read_text(encoding="utf-8"))
    assert set(raw["paths"]) == set(trim_twilio_spec.PATHS)
    full = next(
        (p / "shared" / "specs" / "twilio_api_v2010.json" for p in ROOT.parents if (p / "shared" / "specs").is_dir()),
        None,
    )
    if full is None or not full.is_file():
        pytest.skip("the full Twilio spec is not beside the project; the shipped copy is used as it is")
    assert trim_twilio_spec.trim(json.loads(full.read_text(encoding="utf-8"))) == raw


@pytest.fixture
def world(sqlite_store: SqlStore) -> Iterator[World]:
    yield from make_world(sqlite_store)


def declared(raw: dict[str, Any], method: str, path: str) -> tuple[set[str], set[str]]:
    """(form fields, query parameters) the spec declares for the operation at ``path``."""
    for template, item in raw["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in item:
            op = item[method.lower()]
            params = {p["name"] for p in op.get("parameters", []) + item.get("parameters", []) if p["in"] == "query"}
            body = op.get("requestBody", {}).get("content", {}).get("application/x-www-form-urlencoded", {})
            return set(body.get("schema", {}).get("properties", {})), params
    raise AssertionError(f"the spec has no {method} {path}")


def test_every_request_conforms_to_the_spec(world: World, spec: tuple[Any, dict[str, Any]]) -> None:
    openapi, raw = spec
    backend = world.backend(amd="DetectMessageEnd")
    assert backend.check_credentials() == "Twilio account Sandbox account"
    backend.check_caller_ids([OWNED, "+13125550100"])
    handles = [place(backend, world.clock, f"+1212555{4000 + i}", f"s{i}") for i in range(3)]
    backend.hang_up(handles[0], now=world.clock.now())
    wait_until_ended(backend, handles, world.clock)
    backend.reconcile(handles[1], now=world.clock.now())  # fetch by SID
    backend.reconcile(replace(handles[2], provider_ref=None), now=world.clock.now())  # list by number
    polling = world.backend(public=False)
    polling.poll([place(polling, world.clock, "+12125554010", "s9")], now=world.clock.now())

    seen = set()
    assert world.http.sent
    for method, url, params, data in world.http.sent:
        path = urlsplit(url).path
        request = requests.Request(
            method,
            "https://api.twilio.com" + path,
            params=params,
            data=data,
            auth=(world.sandbox.account_sid, world.sandbox.auth_token),
        )
        openapi.validate_request(RequestsOpenAPIRequest(request))
        fields, query = declared(raw, method, path)
        sent_fields = set((data or {}).keys())
        sent_query = set((params or {}).keys())
        assert sent_fields <= fields, f"{method} {path} sends undeclared fields {sent_fields - fields}"
        assert sent_query <= query, f"{method} {path} sends undeclared query parameters {sent_query - query}"
        seen.add((method, re.sub(r"/(CA|AC)[0-9a-f]{32}", "/{sid}", path)))
    assert {
        ("POST", "/2010-04-01/Accounts/{sid}/Calls.json"),
        ("GET", "/2010-04-01/Accounts/{sid}/Calls.json"),
        ("GET", "/2010-04-01/Accounts/{sid}/Calls/{sid}.json"),
        ("POST", "/2010-04-01/Accounts/{sid}/Calls/{sid}.json"),
        ("GET", "/2010-04-01/Accounts/{sid}.json"),
        ("GET", "/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json"),
        ("GET", "/2010-04-01/Accounts/{sid}/OutgoingCallerIds.json"),
    } <= seen


def test_the_check_catches_a_bad_request(spec: tuple[Any, dict[str, Any]]) -> None:
    """The validator is not a rubber stamp: a create without From, or with a non-integer Timeout, fails."""
    openapi, _ = spec
    url = "https://api.twilio.com/2010-04-01/Accounts/AC" + "0" * 32 + "/Calls.json"
    for data in (
        {"To": "+12125550100", "Url": "https://example.com/t"},
        {"To": "+12125550100", "From": OWNED, "Url": "https://example.com/t", "Timeout": "soon"},
    ):
        with pytest.raises(Exception, match="validation error"):
            openapi.validate_request(RequestsOpenAPIRequest(requests.Request("POST", url, data=data, auth=("AC", "t"))))

"""Write the part of Twilio's OpenAPI description that the contract tests use.

Source: ``twilio_api_v2010.json`` from twilio/twilio-oai (https://github.com/twilio/twilio-oai,
``spec/json/twilio_api_v2010.json``, Apache 2.0), the description of Twilio's 2010-04-01 REST
API. The tests validate every request the `twilio` library sends against it
(tests/contract/test_twilio_spec.py); the full file is 1.8 MB, so the project ships only the
operations the Twilio backend calls, with every schema they reference, in
``tests/data/twilio_api_v2010_calls.json``.

    python scripts/trim_twilio_spec.py path/to/twilio_api_v2010.json

re-creates that file from a newer copy of the spec (the output is deterministic).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "tests" / "data" / "twilio_api_v2010_calls.json"

#: The operations the Twilio backend uses (dialer/telephony/twilio_voice.py).
PATHS = (
    "/2010-04-01/Accounts/{Sid}.json",
    "/2010-04-01/Accounts/{AccountSid}/Calls.json",
    "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json",
    "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json",
    "/2010-04-01/Accounts/{AccountSid}/OutgoingCallerIds.json",
)


def _refs(node: Any) -> set[str]:
    """Every ``#/components/...`` reference inside ``node``."""
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/"):
            found.add(ref)
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def trim(spec: dict[str, Any]) -> dict[str, Any]:
    missing = [p for p in PATHS if p not in spec["paths"]]
    if missing:
        raise SystemExit(f"the spec has no {', '.join(missing)}: is it Twilio's api_v2010 description?")
    paths = {p: spec["paths"][p] for p in PATHS}
    components: dict[str, dict[str, Any]] = {"securitySchemes": spec["components"].get("securitySchemes", {})}
    pending = _refs(paths)
    done: set[str] = set()
    while pending:
        ref = pending.pop()
        done.add(ref)
        _, _, section, name = ref.split("/", 3)
        value = spec["components"][section][name]
        components.setdefault(section, {})[name] = value
        pending |= _refs(value) - done
    for section in components:
        components[section] = dict(sorted(components[section].items()))
    info = dict(spec["info"])
    info["description"] = (
        f"{info.get('description', '')} Trimmed by scripts/trim_twilio_spec.py to the operations the dialer uses."
    ).strip()
    keep = {"openapi": spec["openapi"], "info": info, "servers": spec.get("servers", [])}
    if "security" in spec:
        keep["security"] = spec["security"]
    return {**keep, "paths": paths, "components": components}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", type=Path, help="twilio_api_v2010.json from twilio/twilio-oai")
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args()
    trimmed = trim(json.loads(args.spec.read_text(encoding="utf-8")))
    args.out.write_text(json.dumps(trimmed, indent=1, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")
    components = sum(len(v) for v in trimmed["components"].values())
    print(f"{args.out}: {len(trimmed['paths'])} paths, {components} components")


if __name__ == "__main__":
    main()

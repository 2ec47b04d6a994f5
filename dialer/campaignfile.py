"""Campaign settings from arguments or a campaign file (``campaigns/*.toml``)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from dialer.domain import phones
from dialer.domain.campaigns import CampaignSpec, DialMode
from dialer.domain.windows import CallingWindow
from dialer.errors import ConfigError

#: [campaign] keys kept in the campaign's options JSON rather than in columns of their own.
OPTION_KEYS = (
    "lines_per_agent",
    "machine_detection",
    "abandon_message",
    "compliance_profile",
    "abandon_target",
    "min_agents_predictive",
    "schedule_hours",
    "schedule_days",
    "start_date",
    "end_date",
    "allow_relaxing",
)
#: Every key a campaign file's [campaign] table may hold.
CAMPAIGN_KEYS = {
    "name",
    "flow_id",
    "mode",
    "caller_ids",
    "allow_random_caller_id",
    "agents",
    "region",
    "max_attempts",
    "calling_hours",
    "calling_days",
    "timezone",
    "ring_timeout",
    "max_cps",
    "max_lines",
    *OPTION_KEYS,
}


def campaign_options(
    values: Mapping[str, object], *, treatments: Sequence[str] = (), allow_relaxing: bool = False
) -> dict[str, Any]:
    """The options of a new campaign from `dialer campaign create` flags or the web's form:
    the option keys that are set (``None`` and ``""`` are left out), ``allow_relaxing``, and
    retry treatment overrides written ``RESULT=SPEC`` (``BUSY=retry_in 30m x3``)."""
    unknown = set(values) - set(OPTION_KEYS)
    if unknown:
        raise ConfigError(f"unknown campaign option(s) {', '.join(sorted(unknown))}")
    options: dict[str, Any] = {k: v for k, v in values.items() if v is not None and v != ""}
    if allow_relaxing:
        options["allow_relaxing"] = True
    overrides = {}
    for item in treatments:
        if not item.strip():
            continue
        result, sep, text = item.partition("=")
        if not sep or not result.strip() or not text.strip():
            raise ConfigError(f"treatment {item!r}: write RESULT=SPEC, e.g. 'BUSY=retry_in 30m x3'")
        overrides[result.strip().upper()] = text.strip()
    if overrides:
        options["treatments"] = overrides
    return options


def build_spec(
    *,
    name: str,
    flow_id: str,
    mode: str = "progressive",
    caller_ids: tuple[str, ...] | list[str] = (),
    allow_random_caller_id: bool = False,
    agents: int = 10,
    region: str = "US",
    max_attempts: int = 6,
    hours: str = "08:00-21:00",
    days: str = "mon-sun",
    timezone: str | None = None,
    ring_timeout: int = 25,
    max_cps: float | None = None,
    max_lines: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> CampaignSpec:
    """Validate campaign settings into a spec; errors name the offending option."""
    normalised = []
    for cid in caller_ids:
        try:
            normalised.append(phones.normalise(cid, region).e164)
        except phones.PhoneError as exc:
            hint = "" if "region" in str(exc) else phones.region_hint(cid)
            where = f"; pass that country as --region (the campaign's region is {region})" if hint else ""
            raise ConfigError(
                f"caller ID {cid!r}: {exc}{hint}{where}. Give the owned number in E.164, e.g. +18144043093"
            ) from exc
    try:
        return CampaignSpec(
            name=name,
            flow_id=flow_id,
            mode=DialMode(mode),
            caller_ids=tuple(dict.fromkeys(normalised)),
            allow_random_caller_id=allow_random_caller_id,
            agents=agents,
            region=region,
            max_attempts=max_attempts,
            window=CallingWindow.parse(hours, days),
            timezone=timezone,
            ring_timeout=ring_timeout,
            max_cps=max_cps,
            max_lines=max_lines,
            options=dict(options or {}),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


@dataclass(frozen=True, kw_only=True)
class CampaignFile:
    path: Path
    spec: CampaignSpec
    records: Path | None
    dnc: Path | None


def load_campaign_file(path: Path) -> CampaignFile:
    """Read ``[campaign]``, ``[treatments]``, ``[import]`` and ``[sim]`` tables from a campaign TOML file.

    ``[treatments]`` maps call results to retry treatments, either as text
    (``BUSY = "retry_in 30m +5m x3"``) or as a table
    (``BUSY = { action = "retry_in", interval = "30m", increment = "5m", cycles = 3 }``).
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read campaign file {path}: {exc}") from exc
    camp = dict(data.get("campaign", {}))
    unknown = set(camp) - CAMPAIGN_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown [campaign] key(s) {', '.join(sorted(unknown))}")
    if "name" not in camp or "flow_id" not in camp:
        raise ConfigError(f"{path}: [campaign] needs at least name and flow_id")
    options: dict[str, Any] = {}
    if "sim" in data:
        options["sim"] = dict(data["sim"])
    for key in OPTION_KEYS:
        if key in camp:
            value = camp.pop(key)
            options[key] = value.isoformat() if isinstance(value, date) else value
    if "treatments" in data:
        treatments = data["treatments"]
        if not isinstance(treatments, dict):
            raise ConfigError(f'{path}: [treatments] must be a table of RESULT = "spec"')
        options["treatments"] = {k: _treatment_text(path, k, v) for k, v in treatments.items()}
    spec = build_spec(
        name=camp.pop("name"),
        flow_id=camp.pop("flow_id"),
        hours=camp.pop("calling_hours", "08:00-21:00"),
        days=camp.pop("calling_days", "mon-sun"),
        caller_ids=tuple(camp.pop("caller_ids", ())),
        options=options,
        **camp,
    )
    imp = data.get("import", {})
    base = path.parent
    return CampaignFile(
        path=path,
        spec=spec,
        records=base / imp["records"] if "records" in imp else None,
        dnc=base / imp["dnc"] if "dnc" in imp else None,
    )


def _treatment_text(path: Path, result: str, value: Any) -> str:
    """A ``[treatments]`` entry as treatment text (tables are spelled out)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: [treatments] {result} must be text or a table")
    steps = value.get("steps", [value])
    parts = []
    for step in steps:
        action = str(step.get("action", value.get("action", "retry_in")))
        if action in ("final", "release"):
            return " ".join(str(x) for x in (action, step.get("status", "")) if x)
        words = [action, str(step.get("at" if action == "retry_at" else "interval", ""))]
        if action == "retry_at" and step.get("interval"):
            words += ["after", str(step["interval"])]
        if step.get("increment"):
            words.append(f"+{step['increment']}")
        words.append(f"x{int(step.get('cycles', 1))}")
        parts.append(" ".join(words))
    return ", ".join(parts)

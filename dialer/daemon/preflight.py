"""Start-up checks before any call is placed: the provider login, and the caller IDs.

1. **Credentials and role.** ``telephony.check_credentials()`` (Evo Voice: ``GET /auth/status``,
   role Manager or SystemAdministrator). A failure refuses to run: the error names the fix.
2. **Caller IDs owned.** Every caller ID an active campaign would send — its own list and the
   ``outboundCallerId`` of its records still to be dialed — must be a number the account owns
   (Evo Voice: ``GET /endpoints``). A campaign that would send one that is not does not dial:
   it is paused, and its pause reason names the numbers and the fix.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from dialer.context import Context
from dialer.domain.campaigns import Campaign, CampaignStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class PreflightReport:
    telephony: str
    """Who is dialing, as the provider describes the login."""
    caller_ids_checked: int = 0
    paused: dict[str, str] = field(default_factory=dict)
    """Campaigns paused by the check, with the reason."""


def check(ctx: Context, *, campaigns: Sequence[str] | None = None, now: datetime) -> PreflightReport:
    """Run the checks for the active campaigns (or just ``campaigns``). Raises
    :class:`~dialer.errors.TelephonyAuthError` (or ``TelephonyUnavailable``) when dialing
    cannot start at all."""
    who = ctx.telephony.check_credentials()
    selected = [
        c
        for c in ctx.store.list_campaigns(status=CampaignStatus.ACTIVE)
        if (campaigns is None or c.name in campaigns) and (ctx.fence is None or ctx.fence.owns(c.id))
    ]
    wanted = {campaign.name: caller_ids_wanted(ctx, campaign) for campaign in selected}
    every = sorted({n for numbers in wanted.values() for n in numbers})
    owned = ctx.telephony.check_caller_ids(every) if every else {}
    paused: dict[str, str] = {}
    for campaign in selected:
        bad = sorted(n for n in wanted[campaign.name] if not owned.get(n, False))
        if not bad:
            continue
        where = [_describe(n, in_campaign=n in campaign.caller_ids, records=wanted[campaign.name][n]) for n in bad]
        reason = (
            f"caller ID not owned by the {ctx.telephony.name} account: {', '.join(where)}. A call may only show a "
            "number the account owns. Fix the campaign's --caller-id or the records' outboundCallerId (or add "
            f"the number to the account), then `dialer campaign resume {campaign.name}`"
        )
        ctx.store.set_campaign_status(campaign.name, CampaignStatus.PAUSED, reason=reason, now=now)
        log.warning("campaign %s paused: %s", campaign.name, reason)
        paused[campaign.name] = reason
    log.info("preflight: %s; %d caller IDs checked", who, len(every))
    return PreflightReport(telephony=who, caller_ids_checked=len(every), paused=paused)


def caller_ids_wanted(ctx: Context, campaign: Campaign) -> dict[str, int]:
    """Every caller ID the campaign would send: its own list (0) and its records' still to be
    dialed (how many records carry each)."""
    numbers = dict.fromkeys(campaign.caller_ids, 0)
    numbers.update(ctx.store.record_caller_ids(campaign.id))
    return numbers


def _describe(number: str, *, in_campaign: bool, records: int) -> str:
    parts = ["campaign caller ID"] if in_campaign else []
    if records:
        parts.append(f"{records} record{'s' if records != 1 else ''}")
    return f"{number} ({', '.join(parts)})"

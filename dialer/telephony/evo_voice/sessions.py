"""Evo Voice session records the dialer creates with NewSession (``POST /sessions``).

An agent's dispositioned preview call is logged as a session record: channel Chat (an app
session, which correlation never takes for a call), child of the call's session (the seed's
"parent session, e.g. for billing"), under the configured customer, with the agent as member
when the agent name is the user's email, and the preview record in its ``consoleData`` in
Genesys' names with the disposition. NewSession has no ``consoleData`` field, so it is written
with PatchSession right after.
"""

from __future__ import annotations

import json

from dialer.errors import TelephonyUnavailable
from dialer.telephony.base import PreviewSession
from dialer.telephony.evo_voice.api import EvoVoiceApi, NewSession
from dialer.telephony.evo_voice.calls import text


def preview_request(session: PreviewSession, *, customer_id: str | None) -> NewSession:
    return NewSession(
        display_name=f"Preview {session.handle} ({session.campaign}): {session.disposition} by {session.agent}",
        channel="Chat",
        direction="Outgoing",
        call_state="Disconnected",
        to_address=session.number,
        destination=session.number,
        from_phone_number=session.caller_id,
        parent_session_id=session.call_ref,
        customer_id=customer_id,
        member_email_addresses=(session.agent,) if "@" in session.agent else None,
        start_session=False,
    )


def preview_console_data(session: PreviewSession) -> str:
    """The preview record as Genesys names its fields, with the disposition and the agent."""
    record = {
        "recordHandle": session.handle,
        "phoneNumber": session.number,
        "outboundCallerId": session.caller_id,
        "otherFields": dict(session.user_data),
        "disposition": session.disposition,
        "agent": session.agent,
    }
    return json.dumps(record, ensure_ascii=False)


def log_preview(api: EvoVoiceApi, session: PreviewSession, *, customer_id: str | None) -> str:
    """Create the session record; its id. Raises :class:`~dialer.errors.TelephonyError`."""
    created = api.new_session(preview_request(session, customer_id=customer_id))
    session_id = text(created, "id")
    if session_id is None:
        raise TelephonyUnavailable(f"Evo Voice created a session but returned no id: {str(created)[:200]!r}")
    api.patch_session(session_id, console_data=preview_console_data(session))
    return session_id

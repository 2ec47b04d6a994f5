"""Evo Voice over HTTP (``--backend evovoice``): :class:`EvoVoiceTelephony` on :class:`EvoVoiceApi`.

``api`` is the only code that builds Evo Voice URLs; ``backend`` implements the telephony
port on top of it (placement, correlation, polling, write-back); the pure SessionInfo and
error mappings live in :mod:`dialer.telephony.evo_mapping`.
"""

from __future__ import annotations

from dialer.telephony.evo_voice.api import EvoVoiceApi
from dialer.telephony.evo_voice.backend import DIALING_ROLES, EvoVoiceTelephony

__all__ = ["DIALING_ROLES", "EvoVoiceApi", "EvoVoiceTelephony"]

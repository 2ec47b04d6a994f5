"""Telephony port and adapters. :func:`get_backend` maps a setting to an adapter."""

from __future__ import annotations

from collections.abc import Callable

from dialer.errors import ConfigError
from dialer.settings import Settings
from dialer.sim.callcentre import CallModel
from dialer.telephony.base import TelephonyBackend

BACKENDS = ("simulated", "evovoice", "twilio")


def get_backend(
    settings: Settings,
    *,
    agents_for: Callable[[str], int],
    model_for: Callable[[str], CallModel | None] | None = None,
) -> TelephonyBackend:
    """Build the backend named by ``settings.backend``."""
    if settings.backend == "simulated":
        from dialer.telephony.simulated import SimulatedTelephony

        return SimulatedTelephony(
            agents_for=agents_for,
            model=CallModel(hit_rate=settings.sim_hit_rate),
            model_for=model_for,
            seed=settings.sim_seed,
        )
    if settings.backend == "evovoice":
        from dialer.telephony.evo_voice import EvoVoiceTelephony

        return EvoVoiceTelephony.from_settings(settings)
    raise ConfigError(
        f"backend {settings.backend!r} is not available in this build; use DIALER_BACKEND=simulated or evovoice"
    )

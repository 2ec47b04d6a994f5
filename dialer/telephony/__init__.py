"""Telephony port and adapters. :func:`get_backend` maps a setting to an adapter."""

from __future__ import annotations

from collections.abc import Callable, Mapping

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
    options_for: Callable[[str], Mapping[str, object]] | None = None,
    inbox: object | None = None,
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
    if settings.backend == "twilio":
        from dialer.telephony.twilio_voice import (
            CallbackInbox,
            CampaignCallOptions,
            TwilioConfig,
            TwilioTelephony,
        )

        if not settings.twilio_account_sid or settings.twilio_auth_token is None:
            raise ConfigError(
                "the Twilio backend needs DIALER_TWILIO_ACCOUNT_SID and DIALER_TWILIO_AUTH_TOKEN "
                "(the Account SID and Auth Token from the Twilio Console)"
            )

        def call_options(name: str) -> CampaignCallOptions:
            opts = options_for(name) if options_for else {}
            amd = opts.get("machine_detection")
            return CampaignCallOptions(
                machine_detection=str(amd) if amd else None,
                abandon_message=str(opts["abandon_message"]) if opts.get("abandon_message") else None,
            )

        return TwilioTelephony(
            TwilioConfig(
                account_sid=settings.twilio_account_sid,
                auth_token=settings.twilio_auth_token.get_secret_value(),
                api_base_url=settings.twilio_api_base_url,
                public_base_url=settings.twilio_public_base_url,
                twiml_url=settings.twilio_twiml_url,
                max_cps=settings.twilio_max_cps,
                timeout=settings.twilio_timeout,
                poll_budget=settings.twilio_poll_budget,
            ),
            inbox=inbox if isinstance(inbox, CallbackInbox) else None,
            options_for=call_options,
        )
    raise ConfigError(f"backend {settings.backend!r} is unknown; use DIALER_BACKEND=simulated, evovoice or twilio")

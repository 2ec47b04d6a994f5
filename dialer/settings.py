"""Settings: one object, built once at start-up by :func:`load_settings` and passed down.

Sources, highest priority first: keyword overrides (CLI flags), environment variables
(``DIALER_`` prefix), a ``.env`` file in the working directory, the config file
(``config/dialer.toml`` unless ``DIALER_CONFIG_FILE`` or ``--config`` names another), then
the defaults below. Nothing is instantiated at import time.

In the config file, a table groups settings by prefix: ``[evovoice] base_url = …`` is
``evovoice_base_url``, the same as the environment variable ``DIALER_EVOVOICE_BASE_URL``.
"""

from __future__ import annotations

import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from dialer.errors import ConfigError

DEFAULT_CONFIG_FILE = Path("config/dialer.toml")
_config_file: ContextVar[Path | None] = ContextVar("dialer_config_file", default=None)

Backend = Literal["simulated", "evovoice", "twilio"]


def default_data_dir() -> Path:
    return platformdirs.user_data_path("dialer", appauthor=False)


class Settings(BaseSettings):
    """Effective configuration of one dialer process."""

    model_config = SettingsConfigDict(
        env_prefix="DIALER_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # --- storage
    data_dir: Path = Field(
        default_factory=default_data_dir, description="Where the embedded database and demo files live."
    )
    database_url: str = Field(default="", description="SQLAlchemy URL; empty means SQLite at DATA_DIR/dialer.db.")

    # --- telephony
    backend: Backend = Field(default="simulated", description="simulated | evovoice | twilio")
    evovoice_base_url: str = Field(default="https://evovoice.io", description="Evo Voice API origin.")
    evovoice_username: str | None = Field(default=None, description="Evo Voice login (email), sent with Basic auth.")
    evovoice_password: SecretStr | None = Field(default=None, description="Evo Voice password.")
    evovoice_account_id: str | None = Field(default=None, description="Evo Voice account to dial from.")
    evovoice_timeout: float = Field(default=10.0, gt=0, description="HTTP timeout, seconds.")
    evovoice_poll_interval: float = Field(default=2.0, gt=0, description="Seconds between session polls.")
    evovoice_max_cps: float = Field(
        default=1.0,
        gt=0,
        description="Calls per second Evo Voice's Twilio account allows (the pacer never exceeds it).",
    )
    evovoice_tag_sessions: bool = Field(default=True, description="PATCH consoleData with the record's user data.")
    evovoice_preview_sessions: bool = Field(
        default=True,
        description="Log each dispositioned preview call as an Evo Voice session (NewSession), child of the call's.",
    )
    evovoice_customer_id: str | None = Field(
        default=None, description="Evo Voice customer the preview sessions are logged under (none: no customer)."
    )
    evovoice_outcome_map: dict[str, str] = Field(
        default_factory=dict,
        description="Extra outcome table: regular expression on SessionInfo.outcome → call result, tried first.",
    )
    twilio_account_sid: str | None = Field(default=None, description="Twilio Account SID (AC…).")
    twilio_auth_token: SecretStr | None = Field(default=None, description="Twilio Auth Token (also signs callbacks).")
    twilio_api_base_url: str | None = Field(default=None, description="Override api.twilio.com (sandbox, tests).")
    twilio_public_base_url: str | None = Field(
        default=None, description="Public URL Twilio calls back (the webhook server); empty means poll."
    )
    twilio_twiml_url: str | None = Field(default=None, description="TwiML URL run when the callee answers.")
    twilio_max_cps: float = Field(
        default=1.0, gt=0, description="The account's calls per second (Twilio queues excess)."
    )
    twilio_timeout: float = Field(default=10.0, gt=0, description="HTTP timeout for the Twilio REST API, seconds.")
    twilio_poll_budget: int = Field(default=20, ge=1, description="REST call fetches per tick when polling.")
    twilio_webhook_host: str = Field(default="0.0.0.0", description="Interface the webhook receiver listens on.")
    twilio_webhook_port: int | None = Field(
        default=None, description="Run the webhook receiver inside `dialer run` on this port (else run it apart)."
    )

    # --- daemon
    tick_seconds: float = Field(default=1.0, gt=0, le=60, description="Pacing tick interval, seconds.")
    lease_seconds: int = Field(default=300, gt=0, description="How long a claimed record stays leased.")
    shutdown_grace_seconds: float = Field(
        default=60.0, ge=0, description="On SIGTERM, keep collecting results this long."
    )
    pacer_lease_seconds: float = Field(
        default=6.0,
        gt=0,
        le=300,
        description="A campaign's pacer lease lasts this long without a heartbeat; then another daemon takes "
        "the campaign over.",
    )
    pacer_heartbeat_seconds: float = Field(
        default=1.5,
        gt=0,
        le=100,
        description="How often a daemon renews its pacer leases and looks for campaigns no live daemon paces. "
        "A daemon stops dialing a campaign when its lease is within this of running out unrenewed.",
    )
    placement_concurrency: int = Field(
        default=8,
        ge=1,
        le=64,
        description="Calls of one tick's batch a daemon sends to the provider at once, over pooled connections "
        "(Evo Voice; Twilio and the simulated centre place one by one). 1 sends them one after another.",
    )
    max_virtual_days: int = Field(
        default=60, gt=0, description="--until-done in virtual time stops after this many days."
    )

    # --- simulated call centre
    sim_seed: int = Field(default=7, description="Seed of the simulated call centre (runs are reproducible).")
    sim_speed: float = Field(default=1.0, gt=0, description="Real-time speed-up of the simulated backend.")
    sim_hit_rate: float = Field(default=0.30, ge=0, le=1, description="Share of attempts a person answers.")

    # --- web app
    web_host: str = Field(default="127.0.0.1", description="Interface `dialer web` listens on.")
    web_port: int = Field(default=8000, ge=0, le=65535, description="Port `dialer web` listens on.")
    web_secret_key: SecretStr | None = Field(
        default=None,
        description="Key that signs session cookies; empty: generated once and kept in DATA_DIR/web-secret-key.",
    )
    web_cookie_secure: bool = Field(
        default=False, description="Send the session cookie only over HTTPS (turn on behind an HTTPS proxy)."
    )
    web_session_hours: float = Field(default=12.0, gt=0, description="A login lasts this long without activity.")
    web_max_upload_mb: float = Field(default=100.0, gt=0, description="Largest upload accepted (records, DNC), MB.")
    web_live_seconds: float = Field(
        default=2.0, gt=0, le=60, description="How often the live figures (server-sent events) are refreshed."
    )

    # --- operations
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="Serve Prometheus metrics from `dialer run` on this port (0: any)."
    )
    metrics_host: str = Field(default="127.0.0.1", description="Interface the metrics endpoint listens on.")
    log_format: Literal["text", "json"] = Field(
        default="text", description="text (for a terminal) or json (one object a line, for a log shipper)."
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")

    _config_path: Path = PrivateAttr(default=DEFAULT_CONFIG_FILE)

    @field_validator("database_url")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @model_validator(mode="after")
    def _backend_credentials(self) -> Settings:
        if (
            self.backend == "twilio"
            and self.twilio_auth_token is not None
            and not self.twilio_auth_token.get_secret_value()
        ):
            raise ValueError("DIALER_TWILIO_AUTH_TOKEN is empty; set it or choose another backend")
        if self.pacer_heartbeat_seconds * 2 > self.pacer_lease_seconds:
            raise ValueError(
                f"DIALER_PACER_HEARTBEAT_SECONDS ({self.pacer_heartbeat_seconds:g}) must be at most half of "
                f"DIALER_PACER_LEASE_SECONDS ({self.pacer_lease_seconds:g}), so that a lease survives a missed "
                "heartbeat and a daemon that cannot renew stops dialing before its lease runs out"
            )
        return self

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'dialer.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, dotenv_settings, TomlFileSource(settings_cls)


class TomlFileSource(PydanticBaseSettingsSource):
    """The config file, with ``[table] key`` flattened to ``table_key``."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.path = config_file_path()
        self.data = _read_toml(self.path) if self.path.is_file() else {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        known = set(self.settings_cls.model_fields)
        unknown = sorted(set(self.data) - known)
        if unknown:
            raise ConfigError(
                f"{self.path}: unknown setting(s) {', '.join(unknown)}. See config/dialer.example.toml for the names."
            )
        return dict(self.data)


def config_file_path() -> Path:
    chosen = _config_file.get()
    if chosen is not None:
        return chosen
    env = os.environ.get("DIALER_CONFIG_FILE")
    return Path(env) if env else DEFAULT_CONFIG_FILE


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"cannot read config file {path}: {exc}. Fix the file or point DIALER_CONFIG_FILE elsewhere."
        ) from exc
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            for sub, subvalue in value.items():
                flat[f"{key}_{sub}"] = subvalue
        else:
            flat[key] = value
    return flat


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings once. Raises :class:`ConfigError` naming the bad setting."""
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {config_file} does not exist")
    token = _config_file.set(config_file)
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
        settings._config_path = config_file_path()
        return settings
    except ValidationError as exc:
        problems = "; ".join(f"DIALER_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid settings: {problems}. Run `dialer config show` after fixing them.") from exc
    finally:
        _config_file.reset(token)


SECRET_MASK = "**********"


def redacted(settings: Settings) -> dict[str, Any]:
    """The effective settings with secrets masked, for `dialer config show`."""
    out: dict[str, Any] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = SECRET_MASK if value.get_secret_value() else ""
        elif isinstance(value, Path):
            value = str(value)
        elif name.endswith("_url") and isinstance(value, str):
            value = _redact_url(value)
        out[name] = value
    out["effective_database_url"] = _redact_url(settings.effective_database_url)
    path = settings._config_path
    out["config_file"] = f"{path} ({'read' if path.is_file() else 'not present'})"
    return out


def _redact_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            user = creds.split(":", 1)[0]
            return f"{scheme}://{user}:{SECRET_MASK}@{host}"
    return url

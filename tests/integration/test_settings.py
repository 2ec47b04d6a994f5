from __future__ import annotations

import json
from pathlib import Path

import pytest

from dialer.errors import ConfigError
from dialer.settings import SECRET_MASK, load_settings, redacted


def test_defaults_use_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.backend == "simulated"
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'data' / 'dialer.db'}"


def test_environment_names_from_the_issue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_DATABASE_URL", "postgresql+psycopg://u:pw@db/dialer")
    monkeypatch.setenv("DIALER_BACKEND", "evovoice")
    monkeypatch.setenv("DIALER_EVOVOICE_BASE_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("DIALER_EVOVOICE_USERNAME", "ops@example.com")
    monkeypatch.setenv("DIALER_EVOVOICE_PASSWORD", "s3cret")
    monkeypatch.setenv("DIALER_TWILIO_ACCOUNT_SID", "AC" + "1" * 32)
    monkeypatch.setenv("DIALER_TWILIO_AUTH_TOKEN", "tok3n")
    s = load_settings()
    assert s.backend == "evovoice"
    assert s.evovoice_base_url == "http://127.0.0.1:9000" and s.evovoice_username == "ops@example.com"
    assert s.evovoice_password is not None and s.evovoice_password.get_secret_value() == "s3cret"
    assert s.twilio_auth_token is not None and s.twilio_auth_token.get_secret_value() == "tok3n"
    shown = json.dumps(redacted(s))
    assert "s3cret" not in shown and "tok3n" not in shown and ":pw@" not in shown
    assert redacted(s)["evovoice_password"] == SECRET_MASK


def test_toml_tables_dotenv_and_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Path("config").mkdir()
    Path("config/dialer.toml").write_text(
        'backend = "twilio"\ntick_seconds = 2.5\n[evovoice]\nbase_url = "http://from-toml"\nusername = "toml-user"\n'
        '[twilio]\naccount_sid = "ACtoml"\n',
        encoding="utf-8",
    )
    Path(".env").write_text("DIALER_EVOVOICE_USERNAME=dotenv-user\nDIALER_TICK_SECONDS=3\n", encoding="utf-8")
    monkeypatch.setenv("DIALER_TICK_SECONDS", "4")
    s = load_settings()
    assert s.backend == "twilio" and s.twilio_account_sid == "ACtoml"  # from the file
    assert s.evovoice_base_url == "http://from-toml"
    assert s.evovoice_username == "dotenv-user"  # .env beats the file
    assert s.tick_seconds == 4  # the environment beats .env
    assert load_settings(tick_seconds=5).tick_seconds == 5  # CLI overrides beat everything


def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_BACKEND", "asterisk")
    with pytest.raises(ConfigError, match="DIALER_BACKEND"):
        load_settings()


def test_unknown_config_file_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "custom.toml"
    path.write_text('bakend = "twilio"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown setting.*bakend"):
        load_settings(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")

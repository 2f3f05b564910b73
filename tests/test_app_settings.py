"""The app's settings (app/infra/config.py): README's variables and defaults, one message per bad value."""

from __future__ import annotations

import pytest

from app.infra.config import ConfigError, load_config


def test_session_cookies_are_httponly_samesite_and_secure_when_configured(app):
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    config = load_config({"SESSION_COOKIE_SECURE": "true", "SECRET_KEY": "x"})
    assert config["SESSION_COOKIE_SECURE"] is True and config["REMEMBER_COOKIE_SECURE"] is True


def test_defaults_are_the_documented_ones(tmp_path):
    config = load_config({"SECRET_KEY": "k", "RAG_DATA_DIR": str(tmp_path)})
    assert config["DATA_DIR"] == tmp_path and config["UPLOAD_DIR"] == tmp_path / "uploads"
    assert config["DATABASE_URL"] is None and config["REDIS_URL"] is None  # the embedded servers
    assert config["MAX_CONTENT_LENGTH"] == 25 * 1024 * 1024
    assert (config["API_RATE_LIMIT"], config["WIDGET_RATE_LIMIT"], config["WIDGET_IP_RATE_LIMIT"]) == \
        ("120/minute", "20/minute", "120/minute")
    assert config["TWILIO_VALIDATE_SIGNATURES"] is True and config["SESSION_COOKIE_SECURE"] is False


def test_values_are_stripped_and_blank_ones_are_unset(tmp_path):
    config = load_config({"SECRET_KEY": " k ", "RAG_DATA_DIR": str(tmp_path), "MAX_UPLOAD_MB": " 3 ",
                          "REDIS_URL": "  ", "API_RATE_LIMIT": ""})
    assert config["SECRET_KEY"] == "k" and config["MAX_CONTENT_LENGTH"] == 3 * 1024 * 1024
    assert config["REDIS_URL"] is None and config["API_RATE_LIMIT"] == "120/minute"


@pytest.mark.parametrize("name, value, message", [
    ("MAX_UPLOAD_MB", "big", "MAX_UPLOAD_MB must be a whole number of megabytes above 0, got 'big'"),
    ("MAX_UPLOAD_MB", "0", "MAX_UPLOAD_MB must be a whole number of megabytes above 0"),
    ("TWILIO_VALIDATE_SIGNATURES", "maybe", "TWILIO_VALIDATE_SIGNATURES must be true or false"),
    ("SESSION_COOKIE_SECURE", "2", "SESSION_COOKIE_SECURE must be true or false"),
    ("WIDGET_RATE_LIMIT", "lots", "WIDGET_RATE_LIMIT must be a rate limit like 120/minute"),
])
def test_a_bad_value_stops_the_start_with_its_name_and_what_it_must_be(name, value, message):
    with pytest.raises(ConfigError, match=message):
        load_config({"SECRET_KEY": "k", name: value})


def test_without_secret_key_a_development_key_is_kept_in_the_data_directory(tmp_path):
    first = load_config({"RAG_DATA_DIR": str(tmp_path)})["SECRET_KEY"]
    assert len(first) == 64 and load_config({"RAG_DATA_DIR": str(tmp_path)})["SECRET_KEY"] == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600

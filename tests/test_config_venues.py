"""``[venues.<venue>]`` and ``[recorder]``: every source (file, environment, flags), the checks,
and the credentials a venue needs (named when missing, never shown)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config.errors import ConfigError
from engine.config.loader import load_settings
from engine.config.settings import Settings
from engine.venues.registry import enabled_venues


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_venue_sections_from_file_environment_and_flags(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[venues.upbit]\nenabled = true\nsymbols = ["KRW-BTC"]\n\n'
        '[venues.kiwoom]\nrest_url = "https://mockapi.kiwoom.com"\n',
    )
    settings, _ = load_settings(
        path,
        env={"STOM_VENUES__UPBIT__MODE": "live", "STOM_VENUES__BINANCE__ENABLED": "true",
             "STOM_VENUES__BINANCE__SYMBOLS": '["BTCUSDT"]'},
        overrides={"venues.upbit.poll_interval_ms": "250", "recorder.enabled": "true"},
    )  # fmt: skip
    upbit = settings.venues.upbit
    assert (upbit.enabled, upbit.mode, upbit.symbols) == (True, "live", ["KRW-BTC"])
    assert upbit.poll_interval_ms == 250.0
    assert settings.venues.binance.enabled and settings.venues.binance.symbols == ["BTCUSDT"]
    assert settings.venues.kiwoom.rest_url == "https://mockapi.kiwoom.com"
    assert not settings.venues.kiwoom.enabled
    assert settings.recorder.enabled


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[venues.upbit]\nmode = "real"\n', '[venues.upbit] mode = "real": expected one of paper'),
        (
            "[venues.upbit]\nenabled = true\n",
            "[venues.upbit] enabled = true: the venue needs symbols",
        ),
        ('[venues.binance]\nrest_url = "ftp://x"\n', "expected a URL starting with http://"),
        ("[venues.bitfinex]\nenabled = true\n", "unknown section [venues.bitfinex]"),
        ("[venues.upbit]\nenable = true\n", "unknown key [venues.upbit] enable: did you mean"),
        ("[recorder]\nflush_s = 0\n", "[recorder] flush_s = 0: expected 0.05 to 3600 seconds"),
        ('[recorder]\ninstruments = ["KRW-BTC"]\n', "is not an instrument id"),
    ],
)
def test_bad_venue_and_recorder_values_name_key_and_value(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_settings(path, env={})
    assert expected in str(error.value)
    assert str(error.value).startswith(str(path))


def test_api_keys_in_a_venue_section_point_to_the_secret_sources(tmp_path: Path) -> None:
    path = write(tmp_path, '[venues.binance]\napi_secret = "shh-123"\n')
    with pytest.raises(ConfigError) as error:
        load_settings(path, env={})
    message = str(error.value)
    assert "is a secret" in message and "shh-123" not in message


def live_settings(tmp_path: Path, venue: str, symbol: str) -> Settings:
    path = write(
        tmp_path,
        f'[venues.{venue}]\nenabled = true\nmode = "live"\nsymbols = ["{symbol}"]\n\n'
        f'[secrets]\nfile = "{tmp_path / "secrets.toml"}"\n',
    )
    return load_settings(path, env={})[0]


def test_a_live_venue_without_keys_is_a_config_error_naming_them(tmp_path: Path) -> None:
    settings = live_settings(tmp_path, "upbit", "KRW-BTC")
    with pytest.raises(ConfigError) as error:
        enabled_venues(settings, env={"STOM_UPBIT__ACCESS_KEY": "ak-0123456789"})
    message = str(error.value)
    assert message == (
        "[venues.upbit] needs API keys for live mode: set [upbit] secret_key in the secrets file "
        "or STOM_UPBIT__SECRET_KEY"
    )
    assert "ak-0123456789" not in message


def test_keys_come_from_the_0600_file_and_the_environment_wins(tmp_path: Path) -> None:
    settings = live_settings(tmp_path, "binance", "BTCUSDT")
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[binance]\napi_key = "from-file"\napi_secret = "file-secret"\n')
    secrets.chmod(0o600)
    (config,) = enabled_venues(settings, env={"STOM_BINANCE__API_KEY": "from-env"})
    assert config.live and config.code == "BINANCE"
    assert config.keys["api_key"].reveal() == "from-env"
    assert config.keys["api_secret"].reveal() == "file-secret"
    assert "file-secret" not in repr(config)
    secrets.chmod(0o644)
    with pytest.raises(ConfigError, match="mode 0644"):
        enabled_venues(settings, env={})


def test_paper_venues_need_no_keys_but_kiwoom_market_data_does(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[venues.upbit]\nenabled = true\nsymbols = ["KRW-BTC"]\n\n'
        '[venues.kiwoom]\nenabled = true\nsymbols = ["005930"]\n\n'
        f'[secrets]\nfile = "{tmp_path / "none.toml"}"\n',
    )
    settings, _ = load_settings(path, env={})
    assert [c.code for c in enabled_venues(settings, env={}, only=["upbit"])] == ["UPBIT"]
    with pytest.raises(ConfigError, match=r"\[venues.kiwoom\] needs API keys for its market data"):
        enabled_venues(settings, env={})

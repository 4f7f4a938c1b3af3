"""Which config file is read, and the shipped ``config.toml`` as the documented defaults."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import msgspec
import pytest

from engine.config import settings as settings_module
from engine.config.loader import ConfigError, load_settings
from engine.config.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "config.toml"


@pytest.fixture
def no_config_around(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory and an empty home, so only what a test writes is found."""
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    return tmp_path


def test_shipped_config_is_exactly_the_defaults() -> None:
    settings, used = load_settings(SHIPPED, env={})
    assert used == SHIPPED
    assert settings == Settings()


def test_shipped_config_lists_every_key_with_a_comment() -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    expected = {
        field.name: [sub.name for sub in msgspec.structs.fields(field.type)]
        for field in msgspec.structs.fields(Settings)
    }
    assert {section: list(table) for section, table in data.items()} == expected
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if "=" in line and not line.startswith(("#", "[")):
            assert lines[number - 1].startswith("#"), f"config.toml:{number + 1}: no comment"


def test_every_setting_has_a_docstring() -> None:
    tree = ast.parse(Path(settings_module.__file__).read_text(encoding="utf-8"))
    undocumented = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        for index, item in enumerate(node.body):
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                following = node.body[index + 1] if index + 1 < len(node.body) else None
                documented = isinstance(following, ast.Expr) and isinstance(
                    following.value, ast.Constant
                )
                if not documented and node.name != "Settings":
                    undocumented.append(f"{node.name}.{item.target.id}")
    assert undocumented == []


def test_defaults_only_when_no_file_exists(no_config_around: Path) -> None:
    assert load_settings(env={}) == (Settings(), None)


def test_local_config_is_found(no_config_around: Path) -> None:
    Path("config.toml").write_text("[bus]\nkeepalive_s = 11\n")
    user = no_config_around / "home" / ".config" / "stom"
    user.mkdir(parents=True)
    (user / "config.toml").write_text("[bus]\nkeepalive_s = 22\n")
    settings, used = load_settings(env={})
    assert used == Path("config.toml")
    assert settings.bus.keepalive_s == 11


def test_user_config_is_found_when_there_is_no_local_one(no_config_around: Path) -> None:
    user = no_config_around / "home" / ".config" / "stom"
    user.mkdir(parents=True)
    (user / "config.toml").write_text("[bus]\nkeepalive_s = 22\n")
    settings, used = load_settings(env={})
    assert used == user / "config.toml"
    assert settings.bus.keepalive_s == 22


def test_stom_config_wins_over_the_search(no_config_around: Path) -> None:
    Path("config.toml").write_text("[bus]\nkeepalive_s = 11\n")
    chosen = no_config_around / "chosen.toml"
    chosen.write_text("[bus]\nkeepalive_s = 33\n")
    settings, used = load_settings(env={"STOM_CONFIG": str(chosen)})
    assert (used, settings.bus.keepalive_s) == (chosen, 33)
    with pytest.raises(ConfigError, match=r'^environment STOM_CONFIG="/nope.toml": config file'):
        load_settings(env={"STOM_CONFIG": "/nope.toml"})


def test_explicit_path_must_exist(no_config_around: Path) -> None:
    missing = no_config_around / "missing.toml"
    with pytest.raises(ConfigError) as caught:
        load_settings(missing, env={})
    assert str(caught.value) == f"{missing}: config file not found"

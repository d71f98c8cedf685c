"""gateway.ini: the shipped file loads, and every mistake stops start-up naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import device_from_json, load_config, parse_config
from gateway.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DEVICE = "[device:cam]\nurl = http://127.0.0.1:8000/onvif/device_service\n"


def test_shipped_gateway_ini_loads():
    config = load_config(ROOT / "gateway.ini")
    assert config.port == 8080
    assert config.default_device.name == "camera1"
    assert config.state_dir == ROOT / "state"


def test_values_are_typed_and_paths_relative_to_the_file(tmp_path):
    text = "[gateway]\nport = 9000\nsession_idle_timeout = 60\nstate_dir = data\n" + DEVICE
    config = parse_config(text, tmp_path)
    assert (config.port, config.session_idle_timeout) == (9000, 60.0)
    assert config.state_dir == tmp_path / "data"
    assert config.devices[0].password is None


def test_password_is_not_in_repr():
    config = parse_config(DEVICE + "username = svc\npassword = s3cr3t;#%\n", Path())
    assert config.devices[0].password == "s3cr3t;#%"
    assert "s3cr3t" not in repr(config)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[gateway]\nprot = 80\n" + DEVICE, "[gateway] unknown key 'prot'"),
        # in the user's words, not Python's ("invalid literal for int() with base 10")
        ("[gateway]\nport = eighty\n" + DEVICE, "port = 'eighty': must be a whole number"),
        ("[gateway]\nmax_sessions = 1.5\n" + DEVICE, "'1.5': must be a whole number"),
        ("[gateway]\ndevice_timeout = soon\n" + DEVICE, "'soon': must be a number"),
        ("[gateway]\ncache_ttl = nan\n" + DEVICE, "cache_ttl = 'nan': must be a number"),
        ("[gateway]\nport = 70000\n" + DEVICE, "port number"),
        ("[gateway]\ndevice_timeout = 0\n" + DEVICE, "device_timeout = '0': must be greater"),
        ("[gateways]\n" + DEVICE, "unknown section [gateways]"),
        ("[device:cam]\nusername = x\npassword = y\n", "[device:cam] url is missing"),
        ("[device:cam]\nurl = ftp://x/y\n", "[device:cam] url = 'ftp://x/y'"),
        (DEVICE + "colour = red\n", "[device:cam] unknown key 'colour'"),
        (DEVICE + "username = x\n", "username and password go together"),
        (DEVICE + "default = maybe\n", "[device:cam] default = 'maybe': must be yes or no"),
        ("[device:bad name]\nurl = http://127.0.0.1/\n", "a device name is"),
        ("[gateway]\nport = 1\n", "no [device:NAME] section"),
        (DEVICE + DEVICE.replace("cam", "cam2"), "mark the one the bare paths serve"),
        ("[gateway]\nsession_idle_timeout = 10\nsession_max_age = 5\n" + DEVICE, "longer than"),
        ("not an ini file", "not a valid INI file: line 1: 'not an ini file' comes before any"),
        (DEVICE + "just words\n", "line 3: 'just words' is neither key = value nor a [section]"),
        (DEVICE + "default = yes\n" + DEVICE.replace("cam", "cam2") + "default = on\n",
         "more than one device has default = yes: [device:cam], [device:cam2]"),
        (DEVICE + "url = http://127.0.0.1/\n", "line 3: [device:cam] url is set twice"),
    ],
)
def test_mistakes_are_named(text, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path())
    assert message in str(caught.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.ini")


def test_a_mistake_in_a_file_names_the_file_and_the_line(tmp_path):
    ini = tmp_path / "cameras.ini"
    ini.write_text("[gateway]\nport = 8080\n" + DEVICE + "\n" + DEVICE)
    with pytest.raises(ConfigError) as caught:
        load_config(ini)
    assert str(caught.value) == (f"{ini}: line 6: [device:cam] appears twice "
                                 "(each section once: merge them)")
    ini.write_text("[gateway]\nport = eighty\n" + DEVICE)
    with pytest.raises(ConfigError) as caught:
        load_config(ini)
    assert str(caught.value) == f"{ini}: [gateway] port = 'eighty': must be a whole number"


def test_the_file_a_device_is_configured_in_is_its_real_name(tmp_path):
    ini = tmp_path / "cameras.ini"
    ini.write_text(DEVICE)
    assert load_config(ini).source == "cameras.ini"


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/onvif/device service", "http://127.0.0.1/onvif/\tdevice_service",
    "http://127.0.0.1/onvif/\x00", "http://127.0.0.1/onvif/\x7f", "http://127.0.0.1/\u00a0",
    "http://127.0.0.1/\u2028", "http://127.0.0.1/\u3000", "http://127.0.0.1/\ud800",
])
def test_a_device_url_holds_no_space_nor_control_character(url):
    with pytest.raises(ConfigError, match="must not hold spaces or control characters"):
        device_from_json("cam", url)
    assert device_from_json("cam", "http://127.0.0.1/onvif/d%20s").url.endswith("d%20s")

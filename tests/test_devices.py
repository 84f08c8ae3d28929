"""Device profiles: every shipped file loads, names match, and errors name the file and field."""

from pathlib import Path

import pytest

from biobreath.straps.gatt import HEART_RATE_SERVICE, PMD_SERVICE
from biobreath.straps.profiles import (
    DeviceProfileError,
    device_dirs,
    identify_profile,
    load_profile,
    load_profiles,
    match_profile,
    parse_profile,
)

EXPECTED = {"polar-h10", "polar-h9", "polar-h7", "garmin-hrm-pro", "garmin-hrm-dual",
            "wahoo-tickr", "coospo-h6", "coospo-h808s", "movesense", "generic"}


def test_shipped_profiles_load():
    profiles = load_profiles()
    assert {p.id for p in profiles} == EXPECTED
    assert profiles[-1].generic and not any(p.generic for p in profiles[:-1])
    assert all(HEART_RATE_SERVICE in p.services for p in profiles)
    h10 = next(p for p in profiles if p.id == "polar-h10")
    assert PMD_SERVICE in h10.services and h10.capabilities.ecg and h10.capabilities.acc
    assert h10.capabilities.contact is False and h10.capabilities.ecg_rate_hz == (130,)
    assert h10.quirks.pmd_mtu == 232 and h10.quirks.max_connections == 2
    assert h10.quirks.silence_timeout_s == 5.0


def test_profiles_are_found_in_the_source_tree():
    assert any((d / "polar-h10.toml").is_file() for d in device_dirs())


@pytest.mark.parametrize("name, expected", [
    ("Polar H10 1A2B3C4D", "polar-h10"),
    ("polar h10 1a2b3c4d", "polar-h10"),
    ("Polar H9 0A0B0C0D", "polar-h9"),
    ("Polar H7 12345678", "polar-h7"),
    ("HRM-Pro:123456", "garmin-hrm-pro"),
    ("HRM-Dual:654321", "garmin-hrm-dual"),
    ("TICKR 1234", "wahoo-tickr"),
    ("H808S 0042", "coospo-h808s"),
    ("Movesense 175030001234", "movesense"),
])
def test_names_match_profiles(name, expected):
    assert match_profile(name).id == expected


def test_unknown_strap_with_heart_rate_service_is_generic_and_others_are_not_straps():
    assert match_profile("Acme Belt 7", [HEART_RATE_SERVICE.upper()]).id == "generic"
    assert match_profile(None, [HEART_RATE_SERVICE]).id == "generic"
    assert match_profile("Acme Belt 7", ["0000180f-0000-1000-8000-00805f9b34fb"]) is None
    assert match_profile("Polar H1O 1A2B3C4D") is None


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("body, field", [
    ('name = ""\nname_patterns = ["X*"]', "name"),
    ('name = "X"', "name_patterns"),
    ('name = "X"\nname_patterns = "X*"', "name_patterns"),
    ('name = "X"\nname_patterns = ["X*"]\nservices = ["heartrate"]', "services"),
    ('name = "X"\nname_patterns = ["X*"]\ncolour = "red"', "colour"),
    ('name = "X"\nname_patterns = ["X*"]\n[capabilities]\necg = "yes"', "capabilities.ecg"),
    ('name = "X"\nname_patterns = ["X*"]\n[capabilities]\nppg = true', "ppg"),
    ('name = "X"\nname_patterns = ["X*"]\n[capabilities]\nacc_rate_hz = [0]',
     "capabilities.acc_rate_hz"),
    ('name = "X"\nname_patterns = ["X*"]\n[quirks]\npmd_mtu = "big"', "quirks.pmd_mtu"),
    ('name = "X"\nname_patterns = ["X*"]\n[quirks]\nsleeps = true', "sleeps"),
    ('name = "X"\nname_patterns = ["X*"]\n[quirks]\nsilence_timeout_s = "5"',
     "quirks.silence_timeout_s"),
    ('name = "X"\nname_patterns = ["X*"]\n[quirks]\nsilence_timeout_s = -1.0',
     "quirks.silence_timeout_s"),
    ('name = "X"\nname_patterns = ["X*"]\nmodel_patterns = "X"', "model_patterns"),
    ('name = "X"\nname_patterns = ["X*"]\ngeneric = 1', "generic"),
])
def test_errors_name_file_and_field(tmp_path, body, field):
    path = write(tmp_path, "bad.toml", body)
    with pytest.raises(DeviceProfileError) as info:
        load_profile(path)
    assert str(path) in str(info.value) and field in str(info.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(DeviceProfileError, match="does not exist"):
        load_profile(tmp_path / "missing.toml")
    bad = write(tmp_path, "broken.toml", "name = ")
    with pytest.raises(DeviceProfileError, match="not valid TOML"):
        load_profile(bad)


def test_a_folder_of_profiles_overrides_by_file_name(tmp_path):
    write(tmp_path, "polar-h10.toml", 'name = "My H10"\nname_patterns = ["Chest *"]\n'
                                      'services = ["heart_rate", "180f"]')
    profiles = load_profiles([tmp_path] + device_dirs())
    h10 = next(p for p in profiles if p.id == "polar-h10")
    assert h10.name == "My H10"
    assert h10.services[1] == "0000180f-0000-1000-8000-00805f9b34fb"
    assert match_profile("Chest 1", profiles=profiles).name == "My H10"


@pytest.mark.parametrize("model, name, services, expected", [
    ("Polar H10", None, [], "polar-h10"),          # the Device Information model number
    ("H10", "", [], "polar-h10"),
    ("Polar H9", "Polar H10 1A2B3C4D", [], "polar-h9"),  # the model outranks the name
    (None, "Polar H10 1A2B3C4D", [], "polar-h10"),  # the GATT or advertised name
    ("", None, [HEART_RATE_SERVICE, PMD_SERVICE], "polar-h10"),  # only an H10 offers PMD
    (None, None, [HEART_RATE_SERVICE, "34802252-7185-4d5d-b431-630e7050e8f0"], "movesense"),
    ("Acme 7", "Acme Belt", [HEART_RATE_SERVICE], "generic"),
    (None, None, [], "generic"),
])
def test_a_connected_strap_is_identified_by_model_name_then_services(model, name, services,
                                                                      expected):
    assert identify_profile(model, name, services).id == expected


def test_model_patterns_default_to_the_profile_name():
    p = parse_profile({"name": "Acme Belt", "name_patterns": ["ACME *"],
                       "quirks": {"silence_timeout_s": 8}}, "acme.toml", "acme")
    assert p.matches_model("acme belt") and not p.matches_model("Acme Belt 2")
    assert p.quirks.silence_timeout_s == 8.0 and isinstance(p.quirks.silence_timeout_s, float)
    assert identify_profile("ACME BELT", None, profiles=(p,)).id == "acme"
    with pytest.raises(DeviceProfileError, match="none is generic"):
        identify_profile("other", None, profiles=(p,))

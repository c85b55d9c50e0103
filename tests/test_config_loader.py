"""The configuration loader: the packaged file, located errors for broken files, `cabin check-config`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from config.devices import NO_ACCESSORY, Cms50DeviceConfig, SimDeviceConfig, UvcDeviceConfig
from config.intervals import Interval
from config.loader import ConfigError, Problem, default_config_path, load_config
from config.schema import CabinConfig, MobileUnit, Site
from station.cli import main

DEFAULT_TEXT = default_config_path().read_text(encoding="utf-8")


def hours(*spans: str) -> tuple[Interval, ...]:
    """Intervals from "HH:MM-HH:MM" strings."""
    return tuple(Interval.parse(s) for s in spans)


def site(config: CabinConfig, code: str) -> Site:
    return next(s for s in config.sites if s.code == code)


def write_variant(tmp_path: Path, old: str, new: str, name: str = "cabin.toml") -> Path:
    """The packaged file with one exact replacement, written to tmp_path."""
    assert old in DEFAULT_TEXT, f"the default file no longer contains {old!r}"
    path = tmp_path / name
    path.write_text(DEFAULT_TEXT.replace(old, new, 1), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems, "a ConfigError lists at least one problem"
    return info.value.problems


# --- the packaged configuration -------------------------------------------------------------


def test_default_config_loads_with_the_nangis_station() -> None:
    config = load_config()
    assert config.station.site == "NAN231"
    assert config.place().code == "NAN231"
    assert load_config(default_config_path()) == config


def test_default_sites_are_exactly_the_three_seine_et_marne_cabins() -> None:
    config = load_config()
    assert sorted(s.code for s in config.sites) == ["CHE132", "MSL123", "NAN231"]
    assert {s.code: s.name for s in config.sites} == {
        "NAN231": "Nangis", "CHE132": "Chelles", "MSL123": "Moret-sur-Loing",
    }


def test_nangis_hours() -> None:
    h = site(load_config(), "NAN231").hours
    full = hours("09:00-12:00", "13:30-17:00")
    assert (h.mon, h.tue, h.wed, h.thu, h.fri, h.sat, h.sun) == (
        full, (), hours("09:00-12:00"), full, (), (), (),
    )


def test_chelles_hours_closed_thursday_afternoon() -> None:
    h = site(load_config(), "CHE132").hours
    full = hours("09:00-12:30", "13:30-17:00")
    assert (h.mon, h.tue, h.wed, h.fri) == (full, full, full, full)
    assert h.thu == hours("09:00-12:30")
    assert h.sat == h.sun == ()


def test_moret_hours_weekdays() -> None:
    h = site(load_config(), "MSL123").hours
    full = hours("09:00-12:00", "13:30-17:00")
    assert [h.on(d) for d in range(7)] == [full] * 5 + [(), ()]


def test_mobile_unit_has_a_programme_of_stops() -> None:
    mobile = load_config().mobile
    assert isinstance(mobile, MobileUnit)
    assert len(mobile.stops) >= 1
    dates = [s.date for s in mobile.stops]
    assert len(set(dates)) == len(dates)
    for stop in mobile.stops:
        assert isinstance(stop.date, dt.date)
        assert stop.place.strip()
        assert stop.hours and all(i.start < i.end for i in stop.hours)


def test_default_cleaning_protocol_names_its_contact_step() -> None:
    cleaning = load_config().cleaning
    assert cleaning.contact_starts_after in [s.id for s in cleaning.steps]
    assert cleaning.minimum_contact_s > 0


def test_config_is_frozen() -> None:
    config = load_config()
    with pytest.raises(ValidationError):
        config.station = config.station  # type: ignore[misc]
    with pytest.raises(ValidationError):
        config.station.site = "CHE132"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        config.checkin.pause_s = 1.0  # type: ignore[misc]
    assert isinstance(config.sites, tuple)
    assert isinstance(config.sites[0].hours.mon, tuple)


# --- broken files ----------------------------------------------------------------------------


def test_problem_str_format() -> None:
    assert str(Problem("a.toml", "station", "id", "bad")) == "a.toml: [station] id: bad"
    assert str(Problem("a.toml", "", "", "bad")) == "a.toml: (top level): bad"


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[station]\nid = "a"\nsite = \n', encoding="utf-8")
    [problem] = problems_of(path)
    assert problem.file == str(path)
    assert "line 3" in problem.message
    assert "TOML" in problem.message


@pytest.mark.parametrize(
    ("old", "new", "table", "key", "words"),
    [
        pytest.param("kiosk_port = 8080", "kiosk_prot = 8080", "station", "kiosk_prot", "unknown key",
                     id="unknown-key"),
        pytest.param("kiosk_port = 8080", 'kiosk_port = "eighty"', "station", "kiosk_port", "integer",
                     id="wrong-type"),
        pytest.param("doctor_wait_s = 900", "doctor_wait_s = -5", "timeouts", "doctor_wait_s", "greater than 0",
                     id="negative-timeout"),
        pytest.param('wed = ["09:00-12:00"]', 'wed = ["09:00-12:00", "11:00-13:00"]', "sites #1.hours", "wed",
                     "overlap", id="overlapping-intervals"),
        pytest.param('wed = ["09:00-12:00"]', 'wed = ["9-12"]', "sites #1.hours", "wed", "'9-12'",
                     id="malformed-interval"),
        pytest.param('wed = ["09:00-12:00"]', 'wed = ["12:00-09:00"]', "sites #1.hours", "wed", "ends before",
                     id="interval-backwards"),
        pytest.param('contact_starts_after = "disinfect_surfaces"', 'contact_starts_after = "mop_floor"',
                     "cleaning", "contact_starts_after", "mop_floor", id="contact-step-unknown"),
        pytest.param("freshness_s = 600", "freshness_s = 600\ncolour = 'red'", "devices #1", "colour",
                     "unknown key", id="unknown-key-in-array-of-tables"),
    ],
)
def test_broken_value_is_located_by_file_table_and_key(
    tmp_path: Path, old: str, new: str, table: str, key: str, words: str
) -> None:
    path = write_variant(tmp_path, old, new)
    [problem] = problems_of(path)
    assert (problem.file, problem.table, problem.key) == (str(path), table, key)
    assert words in problem.message
    assert str(problem).startswith(f"{path}: [{table}] {key}: ")


def test_duplicate_stop_dates(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "date = 2026-12-03", "date = 2026-12-01")
    [problem] = problems_of(path)
    assert (problem.file, problem.table) == (str(path), "mobile.stops")
    assert "date" in problem.message
    assert str(problem).startswith(f"{path}: [mobile.stops]")


def test_duplicate_device_ids(tmp_path: Path) -> None:
    path = write_variant(tmp_path, 'id = "bp-cuff-1"', 'id = "thermometer-1"')
    [problem] = problems_of(path)
    assert (problem.file, problem.table) == (str(path), "devices")
    assert "share an id" in problem.message


def test_unknown_station_site_is_reported_with_the_known_codes(tmp_path: Path) -> None:
    path = write_variant(tmp_path, 'site = "NAN231"', 'site = "ZZZ999"')
    [problem] = problems_of(path)
    assert (problem.file, problem.table) == (str(path), "station")
    assert "ZZZ999" in problem.message
    for code in ("NAN231", "CHE132", "MSL123", "CHR180"):
        assert code in problem.message


def test_unknown_station_site_names_the_key(tmp_path: Path) -> None:
    path = write_variant(tmp_path, 'site = "NAN231"', 'site = "ZZZ999"')
    [problem] = problems_of(path)
    assert problem.key == "site"


def test_station_site_may_be_the_mobile_unit(tmp_path: Path) -> None:
    config = load_config(write_variant(tmp_path, 'site = "NAN231"', 'site = "CHR180"'))
    assert isinstance(config.place(), MobileUnit)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "two.toml"
    path.write_text(
        DEFAULT_TEXT.replace("kiosk_port = 8080", "kiosk_prot = 8080").replace("pause_s = 60", "pause_s = 0"),
        encoding="utf-8",
    )
    located = {(p.table, p.key) for p in problems_of(path)}
    assert located == {("station", "kiosk_prot"), ("checkin", "pause_s")}


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    [problem] = problems_of(path)
    assert problem.file == str(path)
    assert "cannot read" in problem.message


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(DEFAULT_TEXT.replace("Nangis", "Nang\u00efs").encode("latin-1", errors="replace"))
    [problem] = problems_of(path)
    assert problem.file == str(path)
    assert "utf-8" in problem.message.lower()


def test_empty_file_names_the_missing_tables(tmp_path: Path) -> None:
    path = tmp_path / "empty.toml"
    path.write_text("", encoding="utf-8")
    assert {p.key for p in problems_of(path)} == {"station", "cleaning"}


def test_deeply_nested_toml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 3000 + "]" * 3000 + "\n", encoding="utf-8")
    problems_of(path)


def test_interval_refuses_non_ascii_digits() -> None:
    with pytest.raises(ValueError):
        Interval.parse("\u0660\u0669:\u0660\u0660-\u0661\u0662:\u0660\u0660")  # Arabic-Indic 09:00-12:00


# --- devices: refused at load exactly as `cabin run` would refuse them --------------------------

OXIMETER_PORT = 'port = "/dev/serial/by-id/usb-Silicon_Labs_CP2102_USB_to_UART_Bridge_Controller_0001-if00-port0"'
OTOSCOPE_PORT = 'port = "/dev/video0"'


def the_problem(path: Path, simulator: bool = False) -> Problem:
    with pytest.raises(ConfigError) as info:
        load_config(path, simulator=simulator)
    [problem] = info.value.problems
    return problem


@pytest.mark.parametrize(
    ("old", "new", "table", "key", "message"),
    [
        pytest.param('kind = "pulse_oximeter"', 'kind = "scale"', "devices #3", "kind",
                     "driver 'cms50' serves pulse_oximeter, not 'scale'", id="kind-the-driver-does-not-serve"),
        pytest.param('kind = "thermometer"', 'kind = "otoscope"', "devices #1", "kind",
                     "driver 'ble' serves thermometer or blood_pressure or pulse_oximeter or scale or glucometer, "
                     "not 'otoscope'",
                     id="ble-otoscope"),
        pytest.param(OXIMETER_PORT + "\n", "", "devices #3", "port",
                     "set a port or a USB identity (usb_vendor, usb_product, usb_serial)", id="cms50-not-findable"),
        pytest.param(OTOSCOPE_PORT + "\n", "", "devices #5", "port",
                     "set a port or a USB identity (usb_vendor, usb_product, usb_serial)", id="uvc-not-findable"),
        pytest.param(OXIMETER_PORT, 'port = "ttyUSB0"', "devices #3", "port",
                     "'ttyUSB0' is not a path such as /dev/serial/by-id/...", id="relative-serial-port"),
        pytest.param(OTOSCOPE_PORT, 'port = "video0"', "devices #5", "port",
                     "'video0' is neither a path (/dev/video0), a V4L2 index nor a URL", id="camera-port"),
        pytest.param('driver = "rdm6300"', 'driver = "lcus"', "badge_reader", "driver",
                     "'lcus' is not one of rdm6300, none", id="lcus-as-badge-reader"),
        pytest.param('driver = "lcus"', 'driver = "rdm6300"', "entry_lock", "driver",
                     "'rdm6300' is not one of lcus, none", id="rdm6300-as-entry-lock"),
        pytest.param('driver = "ble"\nname = "HTS-CABIN"\n', "", "devices #1", "driver",
                     "missing: every entry says which one it is", id="no-driver"),
        pytest.param('driver = "ble"\nname = "HTS-CABIN"', 'driver = "sim"', "devices #1", "driver",
                     "'sim' is the simulator's in-process stand-in: only a run on the simulator (--sim) can use it",
                     id="sim-without-the-simulator"),
        pytest.param('id = "scale-1"', 'id = "badge_reader"', "devices #4", "id",
                     "'badge_reader' names an accessory of the cabin: give the instrument another id",
                     id="an-accessory-id"),
        pytest.param("channel = 1", "channel = 9", "entry_lock", "channel", "Input should be less than or equal to 8",
                     id="relay-channel"),
    ],
)
def test_a_device_that_cannot_work_is_refused_by_file_table_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, table: str, key: str, message: str
) -> None:
    path = write_variant(tmp_path, old, new)
    problem = the_problem(path)
    assert (problem.file, problem.table, problem.key, problem.message) == (str(path), table, key, message)
    assert main(["check-config", str(path)]) == 1  # check-config refuses it, in the same words
    assert capsys.readouterr().err == f"{problem}\n"


def test_two_devices_on_one_port_are_refused(tmp_path: Path) -> None:
    lock_port = 'port = "/dev/serial/by-id/usb-1a86_USB2.0-Serial-if00-port0"'
    problem = the_problem(write_variant(tmp_path, lock_port, 'port = "/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0"'))
    assert (problem.table, problem.key) == ("entry_lock", "")
    assert problem.message == ("the port /dev/serial/by-id/usb-1a86_USB_Serial-if00-port0 of entry_lock is also "
                               "badge_reader's: each device needs its own")
    by_usb = "usb_vendor = 0x10c4\nusb_product = 0xea60"
    path = tmp_path / "two-usb.toml"
    path.write_text(DEFAULT_TEXT.replace(OXIMETER_PORT, by_usb).replace(
        'driver = "ble"\nname = "HTS-CABIN"', 'driver = "cms50"\n' + by_usb, 1).replace(
        'kind = "thermometer"', 'kind = "pulse_oximeter"', 1), encoding="utf-8")
    problem = the_problem(path)
    assert (problem.table, problem.key) == ("devices", "")
    assert problem.message == "the USB identity of oximeter-1 is also thermometer-1's: each device needs its own"


def test_the_simulator_driver_loads_when_the_run_is_on_the_simulator(tmp_path: Path) -> None:
    path = write_variant(tmp_path, 'driver = "ble"\nname = "HTS-CABIN"', 'driver = "sim"')
    device = load_config(path, simulator=True).devices[0]
    assert isinstance(device, SimDeviceConfig) and device.kind == "thermometer"


def test_usb_only_oximeter_and_otoscope_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "usb.toml"
    path.write_text(DEFAULT_TEXT.replace(OXIMETER_PORT, 'usb_vendor = 0x10c4\nusb_product = 0xea60\nusb_serial = "0001"')
                    .replace(OTOSCOPE_PORT, "usb_vendor = 0x1bcf\nusb_product = 0x2c99"), encoding="utf-8")
    config = load_config(path)
    oximeter, otoscope = config.devices[2], config.devices[4]
    assert isinstance(oximeter, Cms50DeviceConfig) and oximeter.port is None
    assert (oximeter.usb_vendor, oximeter.usb_product, oximeter.usb_serial) == (0x10C4, 0xEA60, "0001")
    assert isinstance(otoscope, UvcDeviceConfig) and (otoscope.usb_vendor, otoscope.usb_product) == (0x1BCF, 0x2C99)


def test_no_accessory_is_driver_none_or_no_table(tmp_path: Path) -> None:
    config = load_config(write_variant(tmp_path, 'driver = "rdm6300"\nport = "/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0"',
                                       'driver = "none"'))
    assert config.badge_reader == NO_ACCESSORY
    text = DEFAULT_TEXT[: DEFAULT_TEXT.index("[badge_reader]")] + DEFAULT_TEXT[DEFAULT_TEXT.index("[printer]"):]
    path = tmp_path / "none.toml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    assert config.badge_reader == config.entry_lock == NO_ACCESSORY


# --- cabin check-config ------------------------------------------------------------------------


def test_check_config_default_file_is_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(default_config_path())]) == 0
    out, err = capsys.readouterr()
    assert "OK" in out
    assert err == ""


def test_check_config_without_file_checks_the_packaged_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config"]) == 0
    assert "OK" in capsys.readouterr().out


def test_check_config_lists_one_line_per_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "two.toml"
    path.write_text(
        DEFAULT_TEXT.replace("kiosk_port = 8080", "kiosk_prot = 8080").replace('wed = ["09:00-12:00"]', 'wed = ["9-12"]'),
        encoding="utf-8",
    )
    assert main(["check-config", str(path)]) == 1
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"{path}: [") for line in lines)
    assert any("[station] kiosk_prot:" in line for line in lines)
    assert any("[sites #1.hours] wed:" in line for line in lines)
    assert "Traceback" not in out + err
    assert "OK" not in out


@pytest.mark.parametrize("content", [b"[station\n", b"\xff\xfe\x00garbage", None])
def test_check_config_unreadable_files_fail_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None
) -> None:
    path = tmp_path / "bad.toml"
    if content is not None:
        path.write_bytes(content)
    assert main(["check-config", str(path)]) == 1
    out, err = capsys.readouterr()
    assert len(err.splitlines()) == 1
    assert err.startswith(str(path))
    assert "Traceback" not in out + err


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--bogus"])
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert "usage:" in err
    assert "Traceback" not in out + err


# --- any file: a CabinConfig or a ConfigError, nothing else ---------------------------------------

_FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _outcome(path: Path) -> None:
    try:
        result = load_config(path)
    except ConfigError as exc:
        assert exc.problems
        assert all(isinstance(p, Problem) and p.file == str(path) for p in exc.problems)
        assert all(str(p) for p in exc.problems)
    else:
        assert isinstance(result, CabinConfig)


@_FUZZ
@given(text=st.text(max_size=400))
def test_arbitrary_text_loads_or_is_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _outcome(path)


def _toml_value(value: object) -> str:
    """A value as inline TOML (JSON string escapes are valid TOML basic-string escapes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if value == value and abs(value) != float("inf") else "nan"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"


_KEYS = st.sampled_from(
    ["station", "site", "id", "sites", "hours", "mon", "code", "cleaning", "steps", "contact_starts_after",
     "mobile", "stops", "date", "devices", "kind", "printer", "timeouts", "checkin", "x"]
)
_LEAVES = (
    st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=12)
    | st.sampled_from(["NAN231", "9-12", "12:00-09:00", "ventilate", "thermometer"])
)
_VALUES = st.recursive(
    _LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=4),
    max_leaves=20,
)


@_FUZZ
@given(doc=st.dictionaries(_KEYS, _VALUES, max_size=6))
def test_arbitrary_toml_documents_load_or_are_config_errors(tmp_path: Path, doc: dict[str, object]) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_text("\n".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in doc.items()), encoding="utf-8")
    _outcome(path)


_SECTIONS = ["station", "checkin", "timeouts", "cleaning", "printer"]


@_FUZZ
@given(section=st.sampled_from(_SECTIONS), key=_KEYS | st.sampled_from(["kiosk_port", "pause_s", "port"]),
       value=_VALUES)
def test_default_file_with_one_key_changed_loads_or_is_a_config_error(
    tmp_path: Path, section: str, key: str, value: object
) -> None:
    header = f"[{section}]\n"
    path = tmp_path / "fuzz.toml"
    text = DEFAULT_TEXT.replace(header, f"{header}{json.dumps(key)} = {_toml_value(value)}\n", 1)
    path.write_text(text, encoding="utf-8")
    _outcome(path)


def test_two_devices_of_a_kind_the_cabin_has_one_of_are_refused(tmp_path: Path) -> None:
    problem = the_problem(write_variant(tmp_path, 'kind = "dermatoscope"', 'kind = "otoscope"'))
    assert (problem.table, problem.key) == ("devices", "")
    assert problem.message == "dermatoscope-1 and otoscope-1 are both the cabin's otoscope: it has one otoscope"
    second = '[[devices]]\nid = "stethoscope-2"\nkind = "stethoscope"\ndriver = "alsa"\nport = "plughw:1,0"\n\n'
    problem = the_problem(write_variant(tmp_path, "[[devices]]\n", second + "[[devices]]\n"))
    assert problem.message == "stethoscope and stethoscope-2 are both the cabin's stethoscope: it has one stethoscope"
    second = '[[devices]]\nid = "hearing-2"\nkind = "audiometer"\ndriver = "kiosk"\n\n'
    problem = the_problem(write_variant(tmp_path, "[[devices]]\n", second + "[[devices]]\n"))
    assert problem.message == "audiometer-1 and hearing-2 are both the cabin's audiometer: it has one audiometer"
    problem = the_problem(write_variant(tmp_path, 'kind = "dermatoscope"', 'kind = "stethoscope"'))
    assert problem.message.startswith("driver 'uvc' serves otoscope or dermatoscope, not 'stethoscope'"), problem

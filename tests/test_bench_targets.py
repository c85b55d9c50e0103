"""The `met` column of `make bench`: every target form the benchmarks write, parsed and judged; bench.commands' figures."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.__main__ import summary
from bench.common import Figure, Target, met
from tests.postgres import skip_or_fail


def figure(value: float, reference: float | None, target: str, unit: str = "ms") -> Figure:
    ratio = None if reference is None else value / reference
    return Figure("f", value, unit, reference, ratio, target)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("ratio <= 1.5", Target("ratio", "<=", 1.5, None)),
        ("<= 1.5", Target(None, "<=", 1.5, None)),
        ("ratio >= 0.9", Target("ratio", ">=", 0.9, None)),
        ("ratio < 1.05", Target("ratio", "<", 1.05, None)),
        ("ratio == 1.00 (flat)", Target("ratio", "==", 1.0, None)),
        ("== 1.00 (flat)", Target(None, "==", 1.0, None)),
        ("== 1.000", Target(None, "==", 1.0, None)),
        (">= 10", Target(None, ">=", 10.0, None)),
        ("value < 20 ms", Target("value", "<", 20.0, "ms")),
        ("< 10 ms", Target("value", "<", 10.0, "ms")),  # a unit: about the value, a ratio has none
        ("<= 250 MiB", Target("value", "<=", 250.0, "MiB")),
        ("0", Target(None, "==", 0.0, None)),
        ("== 0", Target(None, "==", 0.0, None)),
        ("  < .5 ", Target(None, "<", 0.5, None)),
    ],
)
def test_parse_reads_every_form_the_benchmarks_write(text: str, parsed: Target) -> None:
    assert Target.parse(text) == parsed


@pytest.mark.parametrize(
    "text", ["reference", "info", "info (mostly fsync)", "", "fast", "ratio about 1", "< 1.5 <", "ratio"]
)
def test_anything_else_is_no_target(text: str) -> None:
    assert Target.parse(text) is None


@pytest.mark.parametrize(
    ("fig", "verdict"),
    [
        # bench.startup: start_to_ready against import_floor
        (figure(1.4, 1.0, "<= 1.5", "s"), "yes"),
        (figure(1.6, 1.0, "ratio <= 1.5", "s"), "NO"),
        (figure(1.5, 1.0, "<= 1.5", "s"), "yes"),  # the bound itself meets "<="
        # bench.consultations
        (figure(150.0, 143.0, "< 1.05", "MiB"), "yes"),
        (figure(151.0, 143.0, "< 1.05", "MiB"), "NO"),
        (figure(32, 32, "== 1.00 (flat)", "fds"), "yes"),
        (figure(33, 32, "== 1.00 (flat)", "fds"), "NO"),
        (figure(0, 1000, "== 0", "consultations"), "yes"),
        (figure(3, 1000, "0", "consultations"), "NO"),
        (figure(8.1, None, "value < 10 ms"), "yes"),
        (figure(10.0, None, "value < 10 ms"), "NO"),  # the bound itself misses "<"
        # bench.pleth: completeness, lossless_rate (ratio against 60 Hz)
        (figure(3600, 3600, "== 1.000", "samples"), "yes"),
        (figure(3599, 3600, "== 1.000", "samples"), "NO"),  # == is equality, not the printed digits
        (figure(600, 60, ">= 10", "Hz"), "yes"),
        (figure(300, 60, ">= 10", "Hz"), "NO"),
        # bench.media: a ratio target, and a bound on the value of a figure without reference
        (figure(27.0, 30.0, ">= 0.9", "fps"), "yes"),
        (figure(180.0, None, "<= 250", "MiB"), "yes"),
        (figure(260.0, None, "<= 250 MiB", "MiB"), "NO"),
        # bench.print: the target is on the value although there is a reference
        (figure(12.0, 3.0, "value < 20 ms"), "yes"),
        (figure(25.0, 30.0, "value < 20 ms"), "NO"),
        # no verdict: no target, no ratio to judge, another unit
        (figure(1.0, None, "reference"), "-"),
        (figure(1.0, 2.0, "info"), "-"),
        (figure(1.0, 2.0, "info (mostly fsync)"), "-"),
        (figure(1.0, None, "ratio <= 1.5"), "-"),
        (figure(0.008, None, "value < 10 ms", "s"), "-"),
        (figure(float("nan"), None, "< 10 ms"), "-"),
    ],
)
def test_met_judges_the_figure_the_target_is_about(fig: Figure, verdict: str) -> None:
    assert met(fig) == verdict


def test_summary_counts_the_judged_figures_and_names_the_missed() -> None:
    results = [
        ("consultations", [figure(1.0, None, "reference"), figure(1.1, 1.0, "< 1.05", "MiB"),
                           figure(8.0, None, "value < 10 ms")]),
        ("pleth", [figure(600, 60, ">= 10", "Hz")]),
    ]
    assert summary(results, []) == "targets met: 2 of 3; missed: consultations.f"
    assert summary(results[1:], ["media"]) == "targets met: 1 of 1; could not run: media"


def test_bench_commands_reports_each_command_against_a_bare_interpreter() -> None:
    result = subprocess.run([sys.executable, "-m", "bench.commands", "--runs", "1", "--json"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    figures = {f["figure"]: f for f in json.loads(result.stdout)["figures"]}
    assert list(figures) == ["python_pass", "decode", "check_config", "status"]
    assert figures["python_pass"]["target"] == "reference"
    for name in ("decode", "check_config", "status"):
        figure = Figure(**figures[name])
        assert figure.reference == figures["python_pass"]["value"] and figure.unit == "s"
        assert figure.ratio == figure.value / figure.reference
        assert Target.parse(figure.target) == Target("ratio", "<=", 10.0, None)


def test_bench_booking_reports_search_booking_and_arrival_against_their_floors() -> None:
    result = subprocess.run([sys.executable, "-m", "bench.booking", "--searches", "100", "--bookings", "5",
                             "--arrivals", "100", "--json"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "10 cabins, 10000 bookings" in result.stderr
    figures = {f["figure"]: Figure(**f) for f in json.loads(result.stdout)["figures"]}
    assert list(figures) == ["bare_query_p99", "slot_search_p99", "bare_read_insert_rate", "booking_rate",
                             "station_apply_p99", "arrival_p99"]
    for name, reference in (("slot_search_p99", "bare_query_p99"), ("arrival_p99", "station_apply_p99")):
        assert figures[name].reference == figures[reference].value and figures[name].ratio is not None
    assert figures["booking_rate"].ratio == figures["bare_read_insert_rate"].value / figures["booking_rate"].value


def test_bench_sync_reports_a_weeks_synchronisation_against_copying_the_rows_once() -> None:
    result = subprocess.run([sys.executable, "-m", "bench.sync", "--patients", "4", "--rounds", "1", "--json"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "5 days of 4 patients" in result.stderr
    figures = {f["figure"]: Figure(**f) for f in json.loads(result.stdout)["figures"]}
    assert list(figures) == ["bulk_copy", "synchronise", "rows_json", "sync_bytes"]
    for name, reference in (("synchronise", "bulk_copy"), ("sync_bytes", "rows_json")):
        assert figures[name].reference == figures[reference].value
        assert figures[name].ratio == figures[name].value / figures[reference].value
    assert figures["sync_bytes"].value > figures["rows_json"].value  # every row went, with its kind and uid


def test_bench_stethoscope_reports_the_frequency_response_and_the_click_against_the_video() -> None:
    result = subprocess.run([sys.executable, "-m", "bench.stethoscope", "--sweep-seconds", "3", "--clicks", "3",
                             "--json"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "1000 " in result.stderr and "250 +0.0" in result.stderr  # every band printed, normalised at 250 Hz
    figures = {f["figure"]: Figure(**f) for f in json.loads(result.stdout)["figures"]}
    assert list(figures) == ["response_worst_band_50_1000hz", "video_dark_frame_latency_p50", "click_latency_p50"]
    assert met(figures["response_worst_band_50_1000hz"]) == "yes"  # flat within 3 dB from 50 to 1000 Hz
    click = figures["click_latency_p50"]
    assert click.reference == figures["video_dark_frame_latency_p50"].value and click.ratio is not None
    assert 0 < click.value < 1000


def test_bench_fleet_reports_relay_memory_and_reconnection_against_one_hub_and_the_first_connection() -> None:
    result = subprocess.run([sys.executable, "-m", "bench.fleet", "--stations", "20", "--gps", "4", "--pings", "3",
                             "--json"], capture_output=True, text=True, timeout=600)
    if result.returncode != 0 and "CannotStart" in result.stderr:
        skip_or_fail(result.stderr.strip(), "fleet's daemons")
    assert result.returncode == 0, result.stderr
    assert "20 cabins, 4 GPs" in result.stderr and "SIGKILL to A" in result.stderr
    figures = {f["figure"]: Figure(**f) for f in json.loads(result.stdout)["figures"]}
    assert list(figures) == ["relay_p50_one_hub", "relay_p99_one_hub", "relay_p50_across_instances",
                             "relay_p99_across_instances", "hub_rss_idle", "hub_rss_with_cabins", "rss_per_cabin",
                             "first_connection_all", "reconnection_all_after_sigkill"]
    for name, reference in (("relay_p99_across_instances", "relay_p99_one_hub"),
                            ("hub_rss_with_cabins", "hub_rss_idle"),
                            ("reconnection_all_after_sigkill", "first_connection_all")):
        assert figures[name].reference == figures[reference].value
        assert figures[name].ratio == figures[name].value / figures[reference].value
    assert figures["relay_p50_across_instances"].value > 0 and figures["reconnection_all_after_sigkill"].value > 0

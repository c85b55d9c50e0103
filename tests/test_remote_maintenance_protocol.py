"""Remote maintenance's pure parts: its messages, the hub's request parser and the log redaction
(docs/design.md, "Remote maintenance")."""

from __future__ import annotations

import json
import logging

import pytest

from hub.errors import Refusal
from hub.maintenance import RunRequest, parse_run
from protocol.hub import (
    FROM_STATION,
    MAX_RESULT_BYTES,
    TO_STATION,
    HubProtocolError,
    Maintenance,
    MaintenanceResult,
    dump,
    parse,
)
from station.logs import LogRing, redact


def test_a_run_and_its_result_go_round_trip() -> None:
    run = Maintenance(run="r1", action="out_of_service", technician="tom.tech", reason="Écran cassé",
                      start_within_s=30)
    assert parse(TO_STATION, dump(run)) == run
    logs = Maintenance(run="r2", action="logs", technician="tom.tech", lines=50, start_within_s=30)
    assert parse(TO_STATION, dump(logs)) == logs
    done = MaintenanceResult(run="r1", action="diagnostics", ok=True,
                             result={"devices": [{"device_id": "oximeter", "battery": 80, "self_test": {"ok": None}}]})
    assert parse(FROM_STATION, dump(done)) == done
    refused = MaintenanceResult(run="r1", action="self_test", ok=False, code="patient_in", error="a patient is in")
    assert parse(FROM_STATION, dump(refused)) == refused


@pytest.mark.parametrize(("fields", "why"), [
    ({"action": "out_of_service"}, "out_of_service, and only it, carries the reason"),
    ({"action": "out_of_service", "reason": "  "}, "out_of_service, and only it, carries the reason"),
    ({"action": "diagnostics", "reason": "no"}, "out_of_service, and only it, carries the reason"),
    ({"action": "self_test", "lines": 3}, "only logs takes a number of lines"),
    ({"action": "logs", "lines": 201}, "less than or equal to 200"),
    ({"action": "reboot"}, "action"),
    ({"action": "logs", "technician": "Tom Tech"}, "technician"),
    ({"action": "logs", "start_within_s": 0}, "greater than 0"),
])
def test_a_run_is_refused_unless_well_formed(fields: dict[str, object], why: str) -> None:
    message = {"v": 1, "type": "maintenance", "run": "r1", "technician": "tom.tech", "start_within_s": 30, **fields}
    with pytest.raises(HubProtocolError, match=why):
        parse(TO_STATION, json.dumps(message))


def test_a_result_carries_its_result_or_its_error_and_is_bounded() -> None:
    for fields in ({"ok": True}, {"ok": False}, {"ok": True, "result": {}, "error": "x"},
                   {"ok": False, "result": {}, "error": "x"}):
        with pytest.raises(ValueError, match="either its result"):
            MaintenanceResult(run="r1", action="logs", **fields)
    with pytest.raises(ValueError, match=f"at most {MAX_RESULT_BYTES} bytes"):
        MaintenanceResult(run="r1", action="logs", ok=True, result={"lines": ["x" * 1000] * 200})


def test_the_hub_parses_what_a_technician_asks() -> None:
    assert parse_run({"action": "diagnostics"}) == RunRequest("diagnostics")
    assert parse_run({"action": "logs", "lines": 20}) == RunRequest("logs", lines=20)
    assert parse_run({"action": "out_of_service", "reason": " Écran cassé "}) == RunRequest(
        "out_of_service", reason="Écran cassé")
    for body, field in (({"action": "reboot"}, "action"), ({"action": "out_of_service"}, "reason"),
                        ({"action": "out_of_service", "reason": "x" * 201}, "reason"),
                        ({"action": "self_test", "reason": "x"}, "reason"), ({"action": "logs", "lines": 0}, "lines"),
                        ({"action": "logs", "lines": True}, "lines"), ({"action": "diagnostics", "lines": 5}, "lines")):
        with pytest.raises(Refusal) as refused:
            parse_run(body)
        assert (refused.value.status, refused.value.details["fields"]) == (422, [field])


@pytest.mark.parametrize(("line", "kept"), [
    ("checked in K7QX-M4PA for name=Camille Lefèvre, born 2009-02-01",
     "checked in [code] for name=[redacted], born [date]"),
    ('booking {"patient_name": "Camille Lefèvre", "sex": "F"}', 'booking {"patient_name": [redacted], "sex": "F"}'),
    ("birth_date: 12/04/1968; representative=Jean Lefèvre (son)", "birth_date: [redacted]; representative=[redacted])"),
    ("code k7qxm4pa typed, then K7QXM4PA", "code [code] typed, then [code]"),
    ("mail camille@example.org, phone 06 12 34 56 78", "mail [email], phone [phone]"),
    ("session 3fa2b4c5d6e7f801 since 2026-12-07T09:40:00+01:00", "session 3fa2b4c5d6e7f801 since [date]T09:40:00+01:00"),
    # Kept: lower-case words of the codes' alphabet, versions, addresses, device and station ids.
    ("requests answered by starters", "requests answered by starters"),
    ("version 1.2.3 from 10.0.0.1 on oximeter-1 of cabin-nangis-1", "version 1.2.3 from 10.0.0.1 on oximeter-1 of "
     "cabin-nangis-1"),
])
def test_redaction_masks_what_could_name_date_or_identify_a_patient(line: str, kept: str) -> None:
    assert redact(line) == kept


async def test_the_ring_keeps_the_last_lines_redacted_and_no_traceback() -> None:
    ring = LogRing(capacity=3)
    logger = logging.getLogger("tests.ring")
    logger.setLevel(logging.INFO)
    await ring.start()
    try:
        for i in range(4):
            logger.info("line %s, born 1968-04-12", i)
        try:
            raise ValueError("name=Camille Lefèvre")
        except ValueError:
            logger.exception("it failed\nsecond line")
    finally:
        await ring.stop()
    logger.info("not kept: the ring stopped")
    lines = ring.last(10)
    assert [line.message for line in lines] == ["line 2, born [date]", "line 3, born [date]", "it failed [ValueError]"]
    assert [line.level for line in lines] == ["INFO", "INFO", "ERROR"] and lines[0].logger == "tests.ring"
    assert ring.last(1) == lines[-1:]

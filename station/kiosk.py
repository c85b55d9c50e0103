"""The kiosk's local HTTP and WebSocket API, on 127.0.0.1 only.

The touchscreen page (served at `/`, files under `station/kiosk_page/`) and the simulated
patient act through these endpoints; the page renders the view pushed on `/api/events` and
keeps no state of its own. The same WebSocket carries the face-to-face leg's signalling: the
station sends `call` (with the ICE servers) when a GP is there, `signal` with the GP's answer
and candidates, and `hangup`; the page sends `ready` once connected (a call in progress is
then offered again) and `signal` with its offer and candidates, which the station relays to
the hub. Every request must name the kiosk itself as `Host` (its loopback address or
`localhost`, with its port; anything else, such as a DNS-rebinding page's name, is a 421 before
any handler runs), and a browser's must come from the kiosk's own origin. Only the kiosk browser
drives the API: every `/api/` request (the events socket too) must carry the per-start key as
the `cabin_kiosk` cookie, which `/enter?key=KEY` sets; the key is in the start page the station
writes for the browser, readable only by the station and the kiosk's group (docs/design.md,
"The kiosk key"); anything else is a 401. The page is served with a Content-Security-Policy
that allows only its own files, and a socket to itself. Every failure is a
JSON error, never a traceback: 400 for a body the API cannot read (not JSON, not an object, a
field missing or of the wrong type), 409 for a request the cabin refuses in its current state.

In maintenance (after a technician's badge) the page can self-test a device, print a test page
(when the station hands in a `test_print`), and take the cabin out of service with a reason.
Every response is sent with `Cache-Control: no-store`: nothing of a patient lands in a cache.
"""

from __future__ import annotations

import asyncio
import grp
import hmac
import json
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from aiohttp import WSMsgType, web

from config.schema import CabinConfig
from devices.audio_calibration import CalibrationError
from devices.audiometer import Audiometer
from devices.camera import CameraKind, FrameMetrics, Guidance
from devices.cameras import ExaminationCameras
from devices.manager import DeviceManager
from devices.screening import Screening, ScreeningError
from hygiene.audit import AuditTrail
from protocol.states import CabinState
from runtime.errors import StationError
from runtime.storage import replace_file
from runtime.tasks import TaskSet
from session.auscultation import Auscultation
from session.core import CabinCore, CabinRefusal
from session.events import CabinEvent, ConsultationEnded, PrintReported, ReadingTaken, ScreenChanged, StateChanged
from session.patient_desk import PatientDesk
from session.staff_desk import StaffDesk
from session.views import CameraView, ScreenContext, kiosk_view
from station.kiosk_calibration import CalibrationDesk
from ui import URL_PREFIX, WEB_DIR

log = logging.getLogger(__name__)

MEDIA_BACKLOG = 256  # call signalling waiting for a page; a page this far behind is reconnected
PAGE_DIR = Path(__file__).with_name("kiosk_page")
MAX_PAGE_MESSAGE = 64 * 1024  # an SDP offer is a few KiB
KEY_COOKIE = "cabin_kiosk"
START_PAGE = "kiosk-start.html"  # written for the kiosk browser; it carries the key (docs/design.md)
START_PAGE_MODE = 0o640
# Only the page's own files, and its socket to the station; no inline script or style, no frames,
# no plugins, no forms posted elsewhere.
CSP = ("default-src 'self'; img-src 'self' data:; media-src 'self' blob:; object-src 'none'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PageListener = Callable[[dict[str, object]], Awaitable[None]]
TestPrint = Callable[[], Awaitable[object]]
RECENT_CLEANINGS = 5  # shown on the cleaning screens
# The `event` a pushed view names (for the page's log and tests): what made the screen change.
_EVENT_NAMES: dict[type, str] = {StateChanged: "state", ScreenChanged: "state", ReadingTaken: "reading",
                                 PrintReported: "print"}


def _error(status: int, code: str, message: str, **details: object) -> web.Response:
    return web.json_response({"error": code, "message": message, **details}, status=status)


class BadRequest(Exception):
    """A request the kiosk API cannot read, whatever the cabin's state: answered 400."""

    def __init__(self, message: str, code: str = "bad_request") -> None:
        super().__init__(message)
        self.code = code


_JSON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "true or false"), (str, "text"), (int, "a number"), (float, "a number"), (list, "a list"),
    (dict, "an object"), (type(None), "null"))


def _field(body: dict[str, object], key: str, kind: type[T], what: str) -> T:
    """`body[key]` when it is a `kind`; BadRequest naming the field and what it must be otherwise."""
    if key not in body:
        raise BadRequest(f'the body needs "{key}": {what}')
    value = body[key]
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    given = next(name for json_type, name in _JSON_TYPES if isinstance(value, json_type))
    raise BadRequest(f'"{key}" must be {what}, not {given}')


class PageOutbox:
    """What waits to be sent to one page: the newest view, and every media message in order.

    A view is the whole screen, so a newer one replaces any not yet sent; call signalling
    (`call`, `signal`, `hangup`) is never dropped: a page that falls MEDIA_BACKLOG messages
    behind is better reconnected (it then gets a fresh view) than left with half a negotiation.
    """

    def __init__(self, media_backlog: int) -> None:
        self._items: deque[tuple[bool, str]] = deque()  # (is a view, text), in sending order
        self._media_backlog = media_backlog
        self._media = 0
        self._ready = asyncio.Event()

    def put_view(self, text: str) -> None:
        """Queue a view in place of any older one still waiting."""
        if self._media < len(self._items):
            self._items = deque(item for item in self._items if not item[0])
        self._items.append((True, text))
        self._ready.set()

    def put_media(self, text: str) -> bool:
        """Queue a media message; False when the page is already `media_backlog` behind."""
        if self._media >= self._media_backlog:
            return False
        self._media += 1
        self._items.append((False, text))
        self._ready.set()
        return True

    async def get(self) -> str:
        """The next message to send, in order, waiting for one."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        is_view, text = self._items.popleft()
        if not is_view:
            self._media -= 1
        return text


class KioskServer:
    """Serves the kiosk API for one cabin."""

    def __init__(self, cabin: CabinCore, patient: PatientDesk, staff: StaffDesk, *, devices: DeviceManager,
                 audit: AuditTrail, config: CabinConfig, port: int, key_dir: Path, key_group: str | None = None,
                 host: str = "127.0.0.1", cameras: ExaminationCameras | None = None,
                 screenings: Sequence[Screening] = (), test_print: TestPrint | None = None,
                 auscultation: Auscultation | None = None) -> None:
        """`cameras` are the cabin's examination cameras: the one that is on, and its guidance, change the screen,
        as `auscultation`'s point does (where the patient places the stethoscope).
        `screenings` are the tests the patient runs on this screen (devices/screening.py).

        The start page, with the key, is written in `key_dir`, of group `key_group` (the station's
        own group when None).
        """
        self._cabin = cabin
        self._patient = patient
        self._staff = staff
        self._devices = devices
        self._audit = audit
        self._config = config
        self._cameras = cameras if cameras is not None else ExaminationCameras()
        self._screenings = tuple(screenings)
        self._auscultation = auscultation
        self._calibration = CalibrationDesk([s for s in self._screenings if isinstance(s, Audiometer)], audit,
                                            cabin.clock)
        self._test_print = test_print
        self._recent: list[dict[str, object]] = []
        self._board: dict[str, object] | None = None
        self._advice: str | None = None
        self._tasks = TaskSet("kiosk", log)
        self._host = host
        self._requested_port = port
        self.port = port
        self._runner: web.AppRunner | None = None
        self._outboxes: dict[web.WebSocketResponse, PageOutbox] = {}
        self._unsubscribe: list[Callable[[], object]] = []
        self._page_listener: PageListener | None = None
        self.start_page = key_dir / START_PAGE
        self._key_group = key_group
        self._key = ""

    @property
    def url(self) -> str:
        """The base URL of the kiosk."""
        return f"http://{self._host}:{self.port}"

    @property
    def entry_url(self) -> str:
        """The URL that hands the key to a client (a cookie) and leads it to the page."""
        return f"{self.url}/enter?key={self._key}"

    async def start(self) -> None:
        """Bind and serve."""
        app = web.Application(middlewares=[self._guard], client_max_size=64 * 1024)
        app.add_routes([
            web.get("/", self._page),
            web.get("/enter", self._enter),
            web.static("/static", PAGE_DIR, append_version=False),
            web.static(URL_PREFIX, WEB_DIR, append_version=False),
            web.get("/api/state", self._state),
            web.get("/api/events", self._events),
            web.post("/api/checkin", self._post(self._checkin)),
            web.post("/api/identity", self._post(self._identity)),
            web.post("/api/cancel", self._post(lambda body: self._patient.cancel_checkin())),
            web.post("/api/representative", self._post(self._representative)),
            web.post("/api/consent", self._post(self._consent)),
            web.post("/api/leave", self._post(lambda body: self._patient.leave())),
            web.post("/api/touch", self._post(lambda body: self._patient.touch())),
            web.post("/api/screening", self._post(self._screening_answer)),
            web.post("/api/cleaning/step", self._post(self._cleaning_step)),
            web.post("/api/maintenance/self-test", self._post(self._self_test)),
            web.post("/api/maintenance/test-print", self._post(self._print_test_page)),
            web.post("/api/maintenance/out-of-service", self._post(self._out_of_service)),
            web.post("/api/maintenance/return", self._post(lambda body: self._staff.return_to_service())),
            web.post("/api/maintenance/calibration", self._post(self._calibrate)),
        ])
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._requested_port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise StationError(f"cannot listen on {self._host}:{self._requested_port}: {exc.strerror}") from exc
        self.port = self._runner.addresses[0][1]
        self._key = secrets.token_urlsafe(32)
        try:
            self._write_start_page()
        except (OSError, StationError) as exc:
            await self._runner.cleanup()
            self._runner = None
            why = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise StationError(f"cannot write the kiosk's start page {self.start_page}: {why}") from exc
        await self._refresh_recent()
        self._unsubscribe.append(self._cabin.subscribe(self._on_event))
        self._unsubscribe.append(self._cameras.subscribe_guidance(self._on_guidance))
        for screening in self._screenings:
            self._unsubscribe.append(screening.subscribe(lambda: self._push("screening")))
        if self._auscultation is not None:
            self._unsubscribe.append(self._auscultation.subscribe(lambda: self._push("auscultation")))

    async def stop(self) -> None:
        """Close the sockets and the server; idempotent."""
        while self._unsubscribe:
            self._unsubscribe.pop()()
        await self._tasks.cancel_all()
        for ws in list(self._outboxes):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self.start_page.unlink(missing_ok=True)

    def _write_start_page(self) -> None:
        """The page the kiosk browser opens first: it leads to `entry_url`; mode 0640, `key_group`.

        Written beside and renamed over, so the browser never reads half a page, and created with
        its final mode, so no other user can open it in between (runtime/storage.replace_file).
        """
        try:
            gid = -1 if self._key_group is None else grp.getgrnam(self._key_group).gr_gid
        except KeyError:
            raise StationError(f"there is no group {self._key_group!r} for the kiosk browser") from None
        page = ('<!doctype html>\n<meta charset="utf-8">\n<title>Cabine</title>\n'
                f'<meta http-equiv="refresh" content="0;url={self.entry_url}">\n')
        replace_file(self.start_page, page.encode(), START_PAGE_MODE, group=gid)

    def listen_to_page(self, listener: PageListener | None) -> None:
        """Hand the page's media messages (`ready`, `signal`) to `listener`; None stops."""
        self._page_listener = listener

    def tell_pages(self, message: dict[str, object]) -> None:
        """Send a media message (`call`, `signal`, `hangup`) to every open page."""
        text = json.dumps(message)
        for ws, outbox in list(self._outboxes.items()):
            if not outbox.put_media(text):
                log.warning("a kiosk page is %s media messages behind; its socket is closed for it to reconnect",
                            MEDIA_BACKLOG)
                self._tasks.spawn(self._hang_up(ws), "hang-up")

    def _own_hosts(self) -> frozenset[str]:
        """The `Host` values that name this server: its loopback address or `localhost`, with its port."""
        address = f"[{self._host}]" if ":" in self._host else self._host
        names = {address, "localhost"}
        hosts = {f"{name}:{self.port}" for name in names}
        return frozenset(hosts | names if self.port == 80 else hosts)

    def _allowed_origin(self, origin: str | None) -> bool:
        if origin is None:
            return True  # not a browser: a local process such as the simulator
        return origin in {f"http://{host}" for host in self._own_hosts()}

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.headers.get("Host", "").lower() not in self._own_hosts():
            return _error(421, "misdirected_request", "requests must be addressed to the kiosk itself")
        if not self._allowed_origin(request.headers.get("Origin")):
            return _error(403, "forbidden_origin", "requests must come from the kiosk page")
        if request.path.startswith("/api/") and not self._has_key(request.cookies.get(KEY_COOKIE)):
            return _error(401, "not_the_kiosk", "only the kiosk browser may use the kiosk API")
        try:
            response = await handler(request)
            if not response.prepared:
                response.headers.setdefault("Cache-Control", "no-store")
            return response
        except web.HTTPException:
            raise
        except BadRequest as exc:
            return _error(400, exc.code, str(exc))
        except CabinRefusal as exc:
            return _error(409, exc.code, str(exc), **exc.details)
        except StationError as exc:
            return _error(409, "refused", str(exc))
        except Exception:
            log.exception("kiosk request %s failed", request.path)
            return _error(500, "internal", "something went wrong; the cabin is still safe")

    def _has_key(self, given: str | None) -> bool:
        return bool(self._key) and given is not None and hmac.compare_digest(given.encode(), self._key.encode())

    async def _enter(self, request: web.Request) -> web.StreamResponse:
        """Exchange the key for an HttpOnly, same-site cookie, and go to the page (the key leaves the URL)."""
        key = request.query.get("key")
        if not self._has_key(key):
            return _error(403, "wrong_key", "this is not the kiosk's key")
        response = web.Response(status=303, headers={"Location": "/", "Cache-Control": "no-store"})
        response.set_cookie(KEY_COOKIE, self._key, httponly=True, samesite="Strict", path="/")
        return response

    def _post(self, action: Callable[[dict[str, object]], Awaitable[object]]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                body = await request.json() if request.can_read_body else {}
            except (ValueError, UnicodeDecodeError):
                return _error(400, "bad_request", "the body is not JSON")
            if not isinstance(body, dict):
                return _error(400, "bad_request", "the body must be a JSON object")
            result = await action(body)
            return web.json_response({"ok": True, **(result if isinstance(result, dict) else {})})

        return handle

    async def _page(self, request: web.Request) -> web.StreamResponse:
        page = PAGE_DIR / "index.html"
        if not page.is_file():
            return _error(404, "no_page", "the kiosk page is not installed")
        return web.FileResponse(page, headers={"Cache-Control": "no-store", "Content-Security-Policy": CSP})

    async def _state(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._view())

    async def _checkin(self, body: dict[str, object]) -> dict[str, object]:
        code = _field(body, "code", str, "the booking code, as text")
        return await self._patient.submit_code(code)

    async def _identity(self, body: dict[str, object]) -> None:
        if _field(body, "confirm", bool, "true (this is me) or false (this is not me)"):
            await self._patient.confirm_identity()
        else:
            await self._patient.reject_identity()

    async def _representative(self, body: dict[str, object]) -> None:
        present = _field(body, "present", bool, "true or false (a legal representative is here)")
        name = _field(body, "name", str, "the representative's name, as text") if present else ""
        await self._patient.declare_representative(present, name)

    async def _consent(self, body: dict[str, object]) -> None:
        await self._patient.give_consent(_field(body, "accepted", bool, "true or false (the patient's consent)"))

    async def _screening_answer(self, body: dict[str, object]) -> None:
        """The patient's answer to the screening's current presentation (`run` names the run it answers)."""
        run = _field(body, "run", str, "the screening's run, as text")
        answer = _field(body, "answer", dict, "the answer, as an object")
        self._cabin.require(CabinState.IN_CONSULTATION)
        screening = next((s for s in self._screenings if (c := s.current()) is not None and c["run"] == run), None)
        if screening is None:
            raise CabinRefusal("screening_over", "this screening is over or was started again")
        try:
            screening.answer(run, answer)
        except ScreeningError as exc:
            if exc.code == "bad_answer":
                raise BadRequest(str(exc)) from exc
            raise CabinRefusal("screening_over", str(exc)) from exc

    async def _cleaning_step(self, body: dict[str, object]) -> None:
        await self._staff.confirm_cleaning_step(_field(body, "step", str, "the cleaning step's id, as text"))

    async def _events(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_PAGE_MESSAGE)
        await ws.prepare(request)
        outbox = PageOutbox(MEDIA_BACKLOG)
        outbox.put_view(json.dumps({"type": "view", "event": "hello", "view": self._view()}))
        self._outboxes[ws] = outbox
        pump = self._tasks.spawn(self._pump(ws, outbox), "page")
        try:
            async for msg in ws:
                if msg.type is WSMsgType.ERROR:
                    break
                if msg.type is WSMsgType.TEXT:
                    await self._from_page(msg.data)
        finally:
            del self._outboxes[ws]
            pump.cancel()
        return ws

    async def _from_page(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            log.warning("kiosk page sent a message that is not JSON")
            return
        if not isinstance(message, dict) or message.get("type") not in ("ready", "signal"):
            log.warning("kiosk page sent an unknown message")
            return
        if self._page_listener is not None:
            try:
                await self._page_listener(message)
            except Exception:
                log.exception("relaying the kiosk page's signal failed")

    @staticmethod
    async def _pump(ws: web.WebSocketResponse, outbox: PageOutbox) -> None:
        while not ws.closed:
            await ws.send_str(await outbox.get())

    def _view(self) -> dict[str, object]:
        camera = self._cameras.on()
        shown = CameraView(camera.device_id, camera.config.kind, camera.guidance()) if camera is not None else None
        context = ScreenContext(
            place=self._config.place(), timeouts=self._config.timeouts, cleaning=self._staff.protocol_due(),
            checkin_paused_s=self._patient.checkin_paused_for(), devices=self._devices.health(), camera=shown,
            recent_cleanings=self._recent, on_board=self._config.station.mode == "on_board", board=self._board,
            screening=next((run for s in self._screenings if (run := s.current()) is not None), None),
            auscultation=self._auscultation.point if self._auscultation is not None else None,
        )
        view = kiosk_view(self._cabin.snapshot(), context)
        if self._cabin.state is CabinState.MAINTENANCE:  # the technician's calibration of the headphones
            view["audio_calibration"] = self._calibration.view()
        return view

    def show_board(self, board: dict[str, object]) -> None:
        """On board: the waiting room's numbers to show, the ticket called and those waiting (never a name)."""
        self._board = board
        self._push("board")

    def _on_event(self, event: CabinEvent) -> None:
        if isinstance(event, ConsultationEnded):
            for screening in self._screenings:  # nothing of this patient's run is shown to the next
                screening.cancel()
        if isinstance(event, StateChanged) and event.source is CabinState.CLEANING:
            self._tasks.spawn(self._refresh_recent_and_push(), "cleanings")
        self._push(_EVENT_NAMES.get(type(event), "notice"))

    def _on_guidance(self, kind: CameraKind, advice: Guidance, metrics: FrameMetrics) -> None:
        """A camera analysed a frame: the screen changes only when the advice does."""
        if advice != self._advice:
            self._advice = advice
            self._push("guidance")

    def _push(self, kind: str) -> None:
        if not self._outboxes:
            return
        text = json.dumps({"type": "view", "event": kind, "view": self._view()})
        for outbox in self._outboxes.values():
            outbox.put_view(text)

    async def _refresh_recent(self) -> None:
        """The last cleanings from the audit trail: when, and how many steps (no badge, no name)."""
        cleared = await self._audit.latest("cleaning_cleared", RECENT_CLEANINGS)
        self._recent = [{"at": e.at} for e in cleared]

    async def _refresh_recent_and_push(self) -> None:
        try:
            await self._refresh_recent()
        except StationError as exc:
            log.warning("could not read the recent cleanings: %s", exc)
            return
        self._push("cleanings")

    @staticmethod
    async def _hang_up(ws: web.WebSocketResponse) -> None:
        await ws.close()

    def _maintenance(self) -> None:
        if self._cabin.state is not CabinState.MAINTENANCE:
            raise CabinRefusal("not_maintenance", "present a technician's badge first")

    async def _self_test(self, body: dict[str, object]) -> dict[str, object]:
        """Take one reading from a device (through the device manager) and report its health afterwards."""
        device = _field(body, "device", str, "a device id, as text")
        self._maintenance()
        devices = self._devices
        if all(h.device_id != device for h in devices.health()):
            raise BadRequest(f"no device {device!r} in this cabin", "unknown_device")
        test = await devices.self_test(device)
        health = next(h for h in devices.health() if h.device_id == device)
        if test.ok:
            return {"passed": True, "detail": test.detail, "health": health.to_json()}
        return {"passed": False, "error": test.detail, "health": health.to_json()}

    async def _calibrate(self, body: dict[str, object]) -> dict[str, object]:
        """A calibration point: what the meter read of the reference tone (station/kiosk_calibration.py)."""
        try:
            reading = self._calibration.parse(body)
            self._maintenance()
            recorded = await self._calibration.record(reading)
        except CalibrationError as exc:
            raise BadRequest(str(exc), "bad_calibration") from exc
        self._push("calibration")
        return recorded

    async def _print_test_page(self, body: dict[str, object]) -> dict[str, object]:
        """A test page on the cabin's printer (not a patient's job: nothing is recorded)."""
        self._maintenance()
        if self._test_print is None:
            raise CabinRefusal("no_test_print", "this station has no test print configured")
        try:
            await self._test_print()
        except StationError as exc:
            return {"printed": False, "error": str(exc)}
        return {"printed": True}

    async def _out_of_service(self, body: dict[str, object]) -> None:
        reason = _field(body, "reason", str, "the reason shown to patients, as text")
        if not reason.strip():
            raise BadRequest("give the reason shown to patients")
        await self._staff.set_out_of_service(reason[:200])

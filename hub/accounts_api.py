"""The accounts page and its API, for the hub's technicians (docs/design.md, "Accounts in the store"): list
every GP, staff member and station; create a GP, a staff member or a station (its token shown once);
disable and enable any of them; rotate a station's token; set a GP's or a staff member's password. Every
change goes through `AccountDirectory`, which audits it with the technician's username.

`GET /accounts` is the page (`hub/accounts_page/`). Routes under `/api/accounts`: `GET` (every account and
the hub's sites); `POST gp {username, password, name, rpps, qualification?, address, phone, stations}`,
`POST staff {username, password, name, role, site_code?}`, `POST station {id, site, site_code?}` (answers
`{token}`), `POST {gp|staff|station}/{name}/disable` and `.../enable`, `POST station/{id}/rotate` (answers
`{token}`), `POST {gp|staff}/{name}/password {password}`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from hub.accounts import KINDS, AccountDirectory, Kind
from hub.auth import Logins
from hub.config import HubConfig
from hub.errors import Refusal
from hub.files import static_file

PAGE_DIR = Path(__file__).resolve().parent / "accounts_page"
ROLE = "technician"  # who manages accounts (docs/design.md, "Accounts in the store")
NAME = r"{name:[A-Za-z0-9_.:@-]{1,64}}"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AccountsApi:
    """The accounts page's routes, for a logged-in technician only."""

    def __init__(self, accounts: AccountDirectory, logins: Logins, config: HubConfig) -> None:
        self._accounts = accounts
        self._logins = logins
        self._config = config

    def routes(self, from_page: Callable[[Handler], Handler]) -> list[web.AbstractRouteDef]:
        """Every route; `from_page` guards the changes (the hub's origin and a JSON body)."""
        base = "/api/accounts"
        return [
            web.get("/accounts", self._index),
            web.get("/accounts/{path:.+}", self._file),
            web.get(base, self.list),
            web.post(f"{base}/gp", from_page(self.add_gp)),
            web.post(f"{base}/staff", from_page(self.add_staff)),
            web.post(f"{base}/station", from_page(self.add_station)),
            web.post(f"{base}/{{kind:gp|staff|station}}/{NAME}/{{action:disable|enable}}", from_page(self.enable)),
            web.post(f"{base}/station/{NAME}/rotate", from_page(self.rotate)),
            web.post(f"{base}/{{kind:gp|staff}}/{NAME}/password", from_page(self.password)),
        ]

    async def list(self, request: web.Request) -> web.StreamResponse:
        """Every account, enabled or not, and the sites a station or a secretary may stand at."""
        self._logins.staff(request, ROLE)
        rows = await self._accounts.list()
        return web.json_response({
            "accounts": [row.as_json() for row in rows],
            "sites": [{"code": s.code, "name": s.name, "mobile": s.mobile} for s in self._config.sites],
        })

    async def add_gp(self, request: web.Request) -> web.StreamResponse:
        """Create a GP."""
        by = self._by(request)
        body = await _body(request)
        identity = {k: body[k] for k in ("name", "qualification", "rpps", "address", "phone") if body.get(k)}
        stations = body.get("stations", [])
        if not isinstance(stations, list) or not all(isinstance(s, str) for s in stations):
            raise Refusal(400, "bad_request", "stations is a list of station ids")
        account = await self._accounts.add_gp(_text(body, "username"), _text(body, "password"), identity, stations,
                                              by=by)
        return web.json_response({"username": account.username})

    async def add_staff(self, request: web.Request) -> web.StreamResponse:
        """Create a coordinator, a secretary or a technician."""
        by = self._by(request)
        body = await _body(request)
        site_code = body.get("site_code")
        account = await self._accounts.add_staff(
            _text(body, "username"), _text(body, "password"), _text(body, "name"), _text(body, "role"),
            site_code if isinstance(site_code, str) and site_code else None, by=by)
        return web.json_response({"username": account.username})

    async def add_station(self, request: web.Request) -> web.StreamResponse:
        """Create a station; its token, shown once."""
        by = self._by(request)
        body = await _body(request)
        site_code = body.get("site_code")
        token = await self._accounts.add_station(_text(body, "id"), _text(body, "site"),
                                                 site_code if isinstance(site_code, str) and site_code else None,
                                                 by=by)
        return web.json_response({"id": body["id"], "token": token})

    async def enable(self, request: web.Request) -> web.StreamResponse:
        """Disable or enable an account."""
        by = self._by(request)
        kind: Kind = next(k for k in KINDS if k == request.match_info["kind"])
        name, enabled = request.match_info["name"], request.match_info["action"] == "enable"
        if not enabled and kind == "staff" and name == by.split(" ")[0]:
            raise Refusal(409, "own_account", "a technician does not disable her own account")
        await self._accounts.set_enabled(kind, name, enabled, by=by)
        return web.json_response({"name": name, "enabled": enabled})

    async def rotate(self, request: web.Request) -> web.StreamResponse:
        """Give a station a next token, shown once."""
        by = self._by(request)
        name = request.match_info["name"]
        return web.json_response({"id": name, "token": await self._accounts.rotate_token(name, by=by)})

    async def password(self, request: web.Request) -> web.StreamResponse:
        """Set a GP's or a staff member's password."""
        by = self._by(request)
        body = await _body(request)
        await self._accounts.set_password(request.match_info["name"], _text(body, "password"), by=by)
        return web.json_response({"ok": True})

    def _by(self, request: web.Request) -> str:
        """Who makes the change, for the audit trail; a refusal for anyone but a technician."""
        return f"{self._logins.staff(request, ROLE).username} (accounts page)"

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return static_file(PAGE_DIR, "index.html", "the accounts page")

    async def _file(self, request: web.Request) -> web.StreamResponse:
        return static_file(PAGE_DIR, request.match_info["path"], "the accounts page")


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refusal(400, "bad_request", "the body is not JSON") from exc
    if not isinstance(body, dict):
        raise Refusal(400, "bad_request", "the body is a JSON object")
    return body


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise Refusal(400, "bad_request", f"{key} is missing, or not text")
    return value.strip() if key != "password" else value

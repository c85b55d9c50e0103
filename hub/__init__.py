"""The hub: the server stations and GP consoles dial out to.

`server` is the HTTP application (its route table, guards and lifecycle); `auth` the GP logins and
station tokens; `relay` the waiting room, joins and signalling; `peers` one WebSocket each;
`errors` the refusals; `config` the hub's file; `cli` the `cabin hub` commands; `console/` the GP
console's static files. It shares only `protocol/` (and the building blocks of `runtime/` and
`config.loader`) with the station: never its internals (tests/test_hub_boundary.py).
"""

"""The hub: the server stations and GP consoles dial out to.

Logins, the waiting room, the signalling relay and the GP console. It shares only `protocol/`
(and the building blocks of `runtime/` and `config/`) with the station: never its internals.
"""

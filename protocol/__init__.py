"""The messages that cross a process boundary, and the cabin states they name.

The hub's WebSockets (`protocol.hub`), the GP's control channel (`protocol.control`), their
shared versioned-JSON framing (`protocol.versioned`) and the cabin's states (`protocol.states`).
"""

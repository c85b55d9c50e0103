"""A fleet of hubs on one machine: the daemons a fleet runs on (PostgreSQL, Redis, HAProxy, coturn), each
started from Debian's package in a temporary directory on a free loopback port, for the tests, the
benchmarks and `make fleet` (docs/design.md, "A fleet of hubs"). Production runs them from `deploy/`."""

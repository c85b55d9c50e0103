"""The fleet view (docs/design.md, "The fleet view"): stations' health reports kept in the hub's store,
the alerts made from them, the fleet page's API and the Prometheus metrics."""

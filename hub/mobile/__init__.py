"""The mobile office's parts that run on a vehicle's hub (docs/design.md, "The mobile office")."""

"""A vehicle's hub and the department's hub synchronising (docs/design.md, "A day without network")."""

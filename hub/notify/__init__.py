"""What the hub tells patients about their bookings: composed, kept in the outbox, sent (docs/design.md,
"Notifications")."""

"""What every part of the station and the hub builds on: errors, the clock, tasks, backoff, the state database."""

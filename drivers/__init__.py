"""Protocol code for each real device: pure parsers (bytes in, typed values out) and thin I/O adapters."""

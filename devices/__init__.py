"""What an instrument is: measurement types, the instrument interface, the device manager."""

"""Running the engine as a service: systemd notifications and the unit file."""

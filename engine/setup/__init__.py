"""``stom init``: the setup wizard that writes ``config.toml`` and the secrets file."""

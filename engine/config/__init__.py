"""Configuration: the settings tree and where its values come from.

- :mod:`engine.config.settings`: the typed, read-only tree (the contract; ``config.toml`` documents
  it).
- :mod:`engine.config.loader`: :func:`~engine.config.loader.load_settings` (defaults, file,
  environment, flags) and :class:`~engine.config.loader.ConfigError`.
- :mod:`engine.config.broker_address`: ``[bus] url`` parsed into a ``BrokerAddress``.
- :mod:`engine.config.secrets`: the redacted ``Secret`` type and the secrets file.
"""

"""Controllers: plain objects owned by the app that turn keys and feed messages into commands
to the engine and into what the screens show (trading, strategies, the session)."""

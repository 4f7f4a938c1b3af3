"""Alerts: engine events to Telegram and email by rules, and commands back from Telegram.

The router takes events from the OMS (a listener that only enqueues), watches the risk and feed
state from its own task, and hands each alert to every channel whose rules let it through. Each
channel sends from its own task, so a slow SMTP server never delays Telegram, and nothing here
ever runs on the market loop's path.
"""

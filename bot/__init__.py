"""The WeChat edge: webhook, dispatcher, async API client, state store, fake platform.

Nothing in this package knows the domain; the composition root (`handlers.setup`) plugs
routers and HTTP routes into the app that `bot.app.create_app` builds.
"""

"""Command line: `python -m bot serve|fake-wechat|chat|migrate|push-menu`.

Operators and scripts depend on these names; keep them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from bot.serving import run_fake, run_worker, run_workers
from config.settings import EMBEDDED, Settings, SettingsError, load_settings


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "port", None) is not None:
        overrides["port"] = args.port
    return load_settings(**overrides)


# --- serve --------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    from bot.logs import setup_logging

    settings = _settings(args)
    setup_logging(settings.log_level, settings.log_format)
    if args.workers > 1 and not settings.redis_url:
        raise SettingsError(
            "configuration error: REDIS_URL: required with --workers > 1 "
            "(retry dedup, locks and the token cache must be shared)"
        )
    if not args.no_migrate:
        from config.migrate import apply_migrations

        applied = asyncio.run(apply_migrations(settings))
        if applied:
            print(f"migrations applied: {', '.join(applied)}", flush=True)
    if args.demo or settings.demo_data:
        from handlers.demo import load_demo_data

        asyncio.run(load_demo_data(settings))
    _banner(settings, args.workers)
    if args.workers == 1:
        run_worker(settings.host, settings.port, reuse_port=False)
        return 0
    return run_workers(settings, args.workers)


def _banner(settings: Settings, workers: int) -> None:
    base = f"http://{settings.host}:{settings.port}"
    store = "Redis" if settings.redis_url else "in-process store"
    db = "SQLite" if settings.is_sqlite else "PostgreSQL"
    wechat = "fake WeChat on loopback" if settings.wechat_api_base == EMBEDDED else \
        settings.wechat_api_base
    print(
        f"职称服务号 backend on {base} ({workers} worker(s); {db}; {store}; {wechat})\n"
        f"  webhook:  {base}{settings.wechat_webhook_path}\n"
        f"  health:   {base}/healthz\n"
        f"  talk to it from another terminal: .venv/bin/python -m bot chat --url {base}",
        flush=True,
    )


# --- fake-wechat --------------------------------------------------------------------------
def cmd_fake_wechat(args: argparse.Namespace) -> int:
    from bot.logs import setup_logging

    settings = load_settings()
    setup_logging(settings.log_level, settings.log_format)
    print(f"fake WeChat platform on http://127.0.0.1:{args.port}", flush=True)
    run_fake(args.port)
    return 0


# --- migrate ------------------------------------------------------------------------------
def cmd_migrate(args: argparse.Namespace) -> int:
    from config.migrate import apply_migrations

    applied = asyncio.run(apply_migrations(load_settings()))
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    return 0


# --- push-menu ----------------------------------------------------------------------------
def cmd_push_menu(args: argparse.Namespace) -> int:
    import aiohttp

    from bot.storage import create_store
    from bot.wechat_client import WeChatClient

    settings = load_settings()
    if settings.wechat_api_base == EMBEDDED:
        raise SettingsError("configuration error: WECHAT_API_BASE: set it to the platform "
                            "(or a running fake-wechat) to push the menu")
    menu = json.loads(Path(args.file).read_text(encoding="utf-8"))

    async def push() -> dict:
        store = create_store(settings.redis_url)
        async with aiohttp.ClientSession() as session:
            client = WeChatClient(session, store, appid=settings.wechat_appid,
                                  secret=settings.wechat_appsecret.get_secret_value(),
                                  base_url=settings.wechat_api_base,
                                  timeout=settings.wechat_api_timeout)
            try:
                return await client.create_menu(menu)
            finally:
                await store.close()

    print(json.dumps(asyncio.run(push()), ensure_ascii=False))
    return 0


# --- chat ---------------------------------------------------------------------------------
def cmd_chat(args: argparse.Namespace) -> int:
    from bot.chat_cli import run_chat

    return asyncio.run(run_chat(url=args.url, fake=args.fake, openid=args.openid,
                                mode=args.mode))


def _domain_commands(sub: argparse._SubParsersAction) -> None:
    """Commands of the domain, from the composition root (HANDLERS_MODULE), if it has any."""
    import importlib

    try:
        module_name = load_settings().handlers_module
    except SettingsError:
        return  # the command that runs will report the configuration error
    module = importlib.import_module(module_name)
    register = getattr(module, "register_commands", None)
    if register is not None:
        register(sub)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="start the service")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--demo", action="store_true", help="load a little demo data")
    p.add_argument("--no-migrate", action="store_true", help="do not apply migrations first")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("fake-wechat", help="start the fake WeChat platform alone")
    p.add_argument("--port", type=int, default=9090)
    p.set_defaults(func=cmd_fake_wechat)

    p = sub.add_parser("chat", help="talk to the bot from this terminal")
    p.add_argument("--url", help="a running service (default: start one in-process)")
    p.add_argument("--fake", help="its fake platform's URL, to show delayed replies")
    p.add_argument("--openid", default="o_terminal_user")
    p.add_argument("--mode", choices=["plain", "compat", "safe"], default=None)
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("migrate", help="apply database migrations")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("push-menu", help="push the custom menu to WeChat")
    p.add_argument("--file", default=str(Path(__file__).resolve().parent.parent / "config"
                                         / "menu.json"))
    p.set_defaults(func=cmd_push_menu)

    _domain_commands(sub)
    args = parser.parse_args(argv)
    if getattr(args, "workers", 1) < 1:
        parser.error("--workers must be at least 1")
    try:
        return args.func(args)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""Domain command-line tools, added to `python -m bot` by the composition root.

`python -m bot admin-token create --name N --role R [--league-city C]` prints a new token
once (only its hash is stored); `admin-token list` and `admin-token revoke ID`.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

from config.database import close_db, init_db
from config.settings import load_settings
from handlers.admin_auth import ROLES, audit, create_token
from models import AdminToken


async def _with_db(coro_fn):
    await init_db(load_settings())
    try:
        return await coro_fn()
    finally:
        await close_db()


def _admin_token(args: argparse.Namespace) -> int:
    if args.action == "create":
        if not args.name:
            print("error: --name is required")
            return 2

        async def create():
            row, token = await create_token(args.name, args.role, args.league_city)
            print(f"token id {row.id} for {row.name} ({row.role}"
                  f"{', ' + row.league_city if row.league_city else ''}):\n{token}\n"
                  "Store it now: it is not shown again.")

        try:
            asyncio.run(_with_db(create))
        except ValueError as exc:
            print(f"error: {exc}")
            return 2
        return 0
    if args.action == "list":
        async def show():
            for row in await AdminToken.all().order_by("id"):
                state = "revoked" if row.revoked_at else "active"
                print(f"{row.id}\t{row.name}\t{row.role}\t{row.league_city or '-'}\t{state}")

        asyncio.run(_with_db(show))
        return 0

    async def revoke():
        row = await AdminToken.get_or_none(id=args.id)
        if row is None:
            print(f"error: no token {args.id}")
            return 2
        row.revoked_at = datetime.now(UTC)
        await row.save(update_fields=["revoked_at"])
        await audit(None, "admin_token.revoke", target=f"token:{row.id}", actor="cli")
        print(f"token {row.id} revoked")
        return 0

    return asyncio.run(_with_db(revoke))


def register_commands(sub: argparse._SubParsersAction) -> None:
    from handlers import certificates_commands, notices_cli, notices_worker

    notices_worker.register(sub)
    notices_cli.register(sub)
    certificates_commands.register(sub)
    p = sub.add_parser("admin-token", help="create, list or revoke HR officers' tokens")
    p.add_argument("action", choices=["create", "list", "revoke"])
    p.add_argument("--name")
    p.add_argument("--role", choices=ROLES, default="league_city_officer")
    p.add_argument("--league-city")
    p.add_argument("--id", type=int)
    p.set_defaults(func=_admin_token)

"""`python -m bot notices …`: watch a broadcast from a terminal, list sends, run reminders.

    python -m bot notices sends                     recent sends with their progress
    python -m bot notices progress SEND_ID [--follow]   a progress bar until it is done
    python -m bot notices reminders [--now ISO]     queue the deadline reminders due now
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from config.database import close_db, init_db
from config.settings import load_settings
from models import NoticeSend
from notices.outbox import Progress, progress

BAR = 30


def render(p: Progress) -> str:
    """One line: bar, percent, counts, and the failures by errcode."""
    filled = BAR if p.total == 0 else int(BAR * p.done / p.total)
    bar = "#" * filled + "." * (BAR - filled)
    line = (f"[{bar}] {p.percent:5.1f}%  {p.done}/{p.total}  sent {p.sent}  "
            f"pending {p.pending}  failed {p.failed}")
    if p.unknown:
        line += f"  unknown {p.unknown}"
    if p.cancelled:
        line += f"  cancelled {p.cancelled}"
    if p.failures:
        line += "  (" + ", ".join(f"{g.errcode} {g.label}: {g.count}" for g in p.failures) + ")"
    return line


async def _progress(send_id: int, follow: bool, interval: float) -> int:
    send = await NoticeSend.get_or_none(id=send_id)
    if send is None:
        print(f"error: no send {send_id}", file=sys.stderr)
        return 2
    tty = sys.stdout.isatty()
    while True:
        p = await progress(send)
        line = render(p)
        if follow and tty and not p.finished:
            print("\r" + line, end="", flush=True)
        else:
            print(("\r" if tty else "") + line, flush=True)
        if not follow or p.finished:
            return 0
        await asyncio.sleep(interval)


async def _sends(limit: int) -> int:
    for send in await NoticeSend.all().order_by("-id").limit(limit):
        p = await progress(send)
        print(f"{send.id}\t{send.purpose}\t{send.channel}\t{send.created_at:%Y-%m-%d %H:%M}\t"
              f"{render(p)}")
    return 0


async def _reminders(now: datetime) -> int:
    from handlers.notices_keys import templates_from
    from notices.reminder_jobs import run_due_reminders
    from notices.schedule import Schedule

    settings = load_settings()
    sends = await run_due_reminders(
        now, schedule=Schedule(), policy=settings.notices_policy,
        templates=templates_from(settings), base_url=settings.public_base_url,
    )
    for send in sends:
        print(f"queued reminder {send.dedup_key}: {send.total} recipient(s), send {send.id}")
    if not sends:
        print("no reminder due")
    return 0


def _run(coro_fn) -> int:
    async def main() -> int:
        await init_db(load_settings())
        try:
            return await coro_fn()
        finally:
            await close_db()

    return asyncio.run(main())


def cmd_notices(args: argparse.Namespace) -> int:
    if args.action == "progress":
        if args.send is None:
            print("error: progress needs SEND_ID", file=sys.stderr)
            return 2
        return _run(lambda: _progress(args.send, args.follow, args.interval))
    if args.action == "sends":
        return _run(lambda: _sends(args.limit))
    try:
        now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
    except ValueError:
        print("error: --now must be an ISO date-time, e.g. 2020-06-23T09:00+08:00",
              file=sys.stderr)
        return 2
    if now.tzinfo is None:
        print("error: --now needs a timezone, e.g. +08:00", file=sys.stderr)
        return 2
    return _run(lambda: _reminders(now))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("notices", help="watch sends, list them, queue due reminders")
    p.add_argument("action", choices=["progress", "sends", "reminders"])
    p.add_argument("send", nargs="?", type=int, help="SEND_ID (for progress)")
    p.add_argument("--follow", action="store_true", help="redraw until the send is done")
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--now", help="for reminders: the time to act as (ISO, with zone)")
    p.set_defaults(func=cmd_notices)

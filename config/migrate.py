"""Apply aerich migrations (`python -m bot migrate`), on SQLite and PostgreSQL alike.

Migration files in /migrations/models hold SQL per dialect (see migrations/README.md);
aerich records what was applied in its own table.
"""

from __future__ import annotations

from aerich import Command

from config.database import MIGRATIONS_DIR, tortoise_config
from config.settings import Settings


async def apply_migrations(settings: Settings) -> list[str]:
    command = Command(tortoise_config(settings), app="models", location=str(MIGRATIONS_DIR))
    async with command:
        await command.init()
        return await command.upgrade(run_in_transaction=True)

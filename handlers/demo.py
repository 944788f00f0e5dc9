"""A little demo data for the embedded default, so a newcomer sees something at once."""

from __future__ import annotations

from config.database import close_db, init_db
from config.settings import Settings
from models import WechatUser

DEMO_USERS = [
    {"openid": "o_demo_applicant", "league_city": "hohhot", "series": "engineering"},
    {"openid": "o_demo_teacher", "league_city": "baotou", "series": "primary_secondary_teacher"},
]


async def load_demo_data(settings: Settings) -> None:
    """Idempotent: running it twice changes nothing."""
    await init_db(settings)
    try:
        for row in DEMO_USERS:
            await WechatUser.update_or_create(
                openid=row["openid"],
                defaults={"league_city": row["league_city"], "series": row["series"]},
            )
        from handlers.certificates_demo import load_certificate_demo

        await load_certificate_demo(settings)
    finally:
        await close_db()

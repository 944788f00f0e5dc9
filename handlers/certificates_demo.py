"""A little certificate demo data for `python -m bot serve --demo`: a filed committee,
three certificates (one revoked), and the verify URLs printed for a newcomer to open.

Idempotent: the committee and certificates are found by their codes and numbers, so a
second run adds nothing (and prints the same URLs). The ID numbers are synthetic
(`make_test_id_number`); the names are made up.
"""

from __future__ import annotations

from datetime import date

from bot.storage import create_store
from certificates.idcard import make_test_id_number
from certificates.registry import CertificateService, CommitteeProblem
from config.settings import Settings
from handlers.certificates_keys import build_service
from models import Certificate

COMMITTEE = {
    "code": "DEMO-ENG", "name": "内蒙古自治区工程技术高级职称评审委员会（演示）",
    "series": ["工程技术"], "levels": ["senior_full", "senior_deputy", "intermediate"],
    "built_by": "内蒙古自治区人力资源和社会保障厅", "filing_number": "内人社职备〔2024〕1号",
    "filed_on": date(2024, 3, 1), "valid_until": date(2027, 2, 28),
}
CERTIFICATES = [
    ("DEMO-2024-0001", "张晓明", "高级工程师", "副高级", "电气工程", None),
    ("DEMO-2024-0002", "其其格", "正高级工程师", "正高级", "水利水电工程", None),
    ("DEMO-2024-0003", "王建国", "高级工程师", "副高级", "土木工程",
     ("论文抄袭，弄虚作假取得职称（演示）", "内人社职撤〔2025〕1号")),
]


def _row(number: str, name: str, qualification: str, level: str, specialty: str,
         seed: int) -> dict:
    return {
        "number": number, "name": name, "id_number": make_test_id_number(f"demo-{seed}"),
        "phone": "", "series": "工程技术", "specialty": specialty,
        "qualification": qualification, "level": level, "obtained_by": "评审",
        "committee": COMMITTEE["code"], "approval_document": "内人社职字〔2024〕30号",
        "approved_on": "2024-06-10", "issued_on": "2024-06-20",
        "original_issuer": "", "original_number": "",
    }


async def _load(service: CertificateService) -> list[tuple[str, str]]:
    try:
        await service.add_committee(COMMITTEE)
    except CommitteeProblem as exc:
        if exc.field != "code":  # "already exists" is the idempotent case
            raise
    shown = []
    for seed, (number, name, qualification, level, specialty, revoked) in enumerate(
            CERTIFICATES):
        cert = await Certificate.get_or_none(number=number)
        if cert is None:
            cert = await service.issue(_row(number, name, qualification, level, specialty,
                                            seed), actor="demo")
            if revoked:
                await service.revoke(cert.public_id, revoked_on=date(2025, 1, 15),
                                     reason=revoked[0], document=revoked[1], actor="demo")
        shown.append((f"{number}（{'已撤销' if revoked else '有效'}）", cert.token))
    return shown


async def load_certificate_demo(settings: Settings) -> None:
    """Create the demo certificates (the database is initialised by the caller) and
    print where to see them."""
    store = create_store(settings.redis_url, namespace=settings.store_namespace)
    try:
        shown = await _load(build_service(settings, store))
    finally:
        await store.close()
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104
    base = f"http://{host}:{settings.port}"
    lines = ["演示证书 (demo certificates), open in a browser:"]
    lines += [f"  {label}: {base}/v/{token}" for label, token in shown]
    lines.append(f"  JSON: {base}/api/v1/certificates/verify/{shown[0][1]}")
    print("\n".join(lines), flush=True)

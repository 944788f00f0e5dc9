"""`python -m bot certificates ...`: the certificate tools for operators and HR.

    certificates import FILE [--dry-run]           check and import a CSV/XLSX export
    certificates committee-add --code C --name N --series 工程技术 --levels senior_deputy ...
    certificates binding-code [--id-number N]      one-time code for 我的证书 (stdin if omitted)
    certificates revoke PUBLIC_ID --on D --reason R --document DOC [--no-blacklist]
    certificates printable PUBLIC_ID --out FILE.pdf|FILE.png
    certificates keys                              the public keys document (GET /api/v1/keys)
    certificates verify-offline SOURCE --keys K    check a QR image or token offline

Every change is written to the audit log with actor "cli". The import shows a progress
bar on stderr and prints the row-by-row report when the file is rejected.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import date
from pathlib import Path

from bot.storage import create_store
from certificates.idcard import InvalidIdNumber, mask_name, validate_id_number
from certificates.importer import Progress
from certificates.printable import CjkFontNotFound
from certificates.qr_backfill import fill_missing_qr
from certificates.registry import CertificateService, CommitteeProblem, RevocationProblem
from config.database import close_db, init_db
from config.settings import load_settings
from handlers.admin_auth import audit
from handlers.certificates_keys import build_service, field_key, load_keyring
from models import Certificate

STAGES = {"check": "检查", "compare": "比对", "write": "写入", "done": "完成", "queued": "排队"}


async def _with_service(fn):
    settings = load_settings()
    await init_db(settings)
    store = create_store(settings.redis_url, namespace=settings.store_namespace)
    try:
        return await fn(build_service(settings, store), settings, store)
    finally:
        await store.close()
        await close_db()


class ProgressBar:
    """A one-line bar on a terminal; plain lines every 10 % elsewhere (logs, CI)."""

    def __init__(self, stream=sys.stderr, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.tty = stream.isatty()
        self._last: tuple[str, int] = ("", -1)
        self.started = time.monotonic()

    def __call__(self, progress: Progress) -> None:
        total = max(progress.total, 1)
        share = min(1.0, progress.done / total)
        tenth = int(share * 10)
        stage = STAGES.get(progress.stage, progress.stage)
        filled = int(share * self.width)
        line = (f"{stage} [{'#' * filled}{'-' * (self.width - filled)}] {share:6.1%} "
                f"{progress.done:,}/{progress.total:,} 行")
        if self.tty:
            self.stream.write("\r" + line)
            if share >= 1:
                self.stream.write("\n")
        elif (progress.stage, tenth) != self._last:
            self.stream.write(line + "\n")
        self._last = (progress.stage, tenth)
        self.stream.flush()


async def _qr_images(service: CertificateService, store, import_id: str) -> None:
    """After the commit: the imported certificates' QR images, with a progress bar
    (certificates.qr_backfill explains why not inside the import)."""
    bar = ProgressBar()
    progress = Progress(stage="二维码")
    started = time.monotonic()

    def show(done: int, total: int) -> None:
        progress.done, progress.total = done, total
        bar(progress)

    made = await fill_missing_qr(service.renderer, store=store, import_id=import_id,
                                 on_progress=show)
    elapsed = time.monotonic() - started
    print(f"已生成{made:,}张证书的二维码图片，用时 {elapsed:.1f} 秒", flush=True)


def _import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        print(f"error: cannot read {path}: {exc}", file=sys.stderr)
        return 2

    async def run(service: CertificateService, settings, store) -> int:
        bar = ProgressBar()
        started = time.monotonic()
        report = await service.import_file(data, path.name, on_progress=bar,
                                           dry_run=args.dry_run, in_thread=False)
        elapsed = time.monotonic() - started
        await audit(None, "certificates.import", target=f"import:{report.import_id}",
                    detail={"filename": path.name, "ok": report.ok, "dry_run": args.dry_run,
                            "total_rows": report.total, "written": report.written,
                            "error_count": report.error_count}, actor="cli")
        if report.ok:
            rate = report.total / elapsed if elapsed else 0
            print(f"{report.message}：{report.total:,} 行，用时 {elapsed:.1f} 秒"
                  f"（{rate:,.0f} 行/秒），导入批次 {report.import_id}", flush=True)
            if report.written and not args.no_qr:
                await _qr_images(service, store, report.import_id)
            return 0
        print(f"导入被拒绝：{report.message}")
        for err in report.errors:
            field = f"[{err.field}] " if err.field else ""
            print(f"  第{err.row}行 {field}{err.message}")
        if report.error_count > len(report.errors):
            print(f"  ……另有 {report.error_count - len(report.errors)} 处错误未列出")
        return 1

    return asyncio.run(_with_service(run))


def _committee_add(args: argparse.Namespace) -> int:
    async def run(service: CertificateService, settings, store) -> int:
        data = {
            "code": args.code, "name": args.name, "series": args.series,
            "levels": [v for item in args.levels for v in item.split(",") if v],
            "built_by": args.built_by, "league_city": args.league_city,
            "filing_number": args.filing_number, "filed_on": args.filed_on,
            "valid_until": args.valid_until, "self_review": args.self_review,
        }
        try:
            row = await service.add_committee(data)
        except CommitteeProblem as exc:
            print(f"error: {exc.field}: {exc.message}", file=sys.stderr)
            return 2
        await audit(None, "committee.create", target=f"committee:{row.code}",
                    detail={"name": row.name, "filing_number": row.filing_number}, actor="cli")
        print(f"committee {row.code} added: {row.name}")
        return 0

    return asyncio.run(_with_service(run))


def _binding_code(args: argparse.Namespace) -> int:
    raw = args.id_number if args.id_number else sys.stdin.readline()
    try:
        id_number = validate_id_number(raw)
    except InvalidIdNumber as exc:
        print(f"error: id number: {exc.message}", file=sys.stderr)
        return 2

    async def run(service: CertificateService, settings, store) -> int:
        from certificates.binding import BindingService

        person = await service.person_by_id_number(id_number)
        if person is None:
            print("error: 人才信息库中没有该身份证号码", file=sys.stderr)
            return 2
        binding = BindingService(field_key(settings), store)
        code, expires = await binding.issue_code(person.id, actor="cli",
                                                 days=settings.cert_binding_code_days)
        await audit(None, "talent.binding_code", target=f"person:{person.id}", actor="cli")
        print(f"{mask_name(person.name)} 的绑定码：{code}（有效期至 {expires:%Y-%m-%d %H:%M} UTC，"
              "仅可使用一次）")
        return 0

    return asyncio.run(_with_service(run))


def _revoke(args: argparse.Namespace) -> int:
    async def run(service: CertificateService, settings, store) -> int:
        try:
            await service.revoke(args.public_id, revoked_on=args.on, reason=args.reason,
                                 document=args.document, actor="cli",
                                 blacklist=not args.no_blacklist)
        except RevocationProblem as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 2
        await audit(None, "certificate.revoke", target=f"certificate:{args.public_id}",
                    detail={"revoked_on": args.on.isoformat(), "document": args.document,
                            "blacklist": not args.no_blacklist}, actor="cli")
        print(f"certificate {args.public_id} revoked on {args.on.isoformat()}")
        return 0

    return asyncio.run(_with_service(run))


def _printable(args: argparse.Namespace) -> int:
    out = Path(args.out)
    fmt = "pdf" if out.suffix.lower() == ".pdf" else "png"

    async def run(service: CertificateService, settings, store) -> int:
        cert = await Certificate.get_or_none(public_id=args.public_id)
        if cert is None:
            print("error: no such certificate", file=sys.stderr)
            return 2
        try:
            return await service.printable(cert, fmt)
        except CjkFontNotFound as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3

    result = asyncio.run(_with_service(run))
    if isinstance(result, int):
        return result
    out.write_bytes(result)
    print(f"wrote {out}")
    return 0


def _keys(args: argparse.Namespace) -> int:
    sys.stdout.write(load_keyring(load_settings()).public_keys_json())
    return 0


def _verify_offline(args: argparse.Namespace) -> int:
    from certificates.offline_verify import main

    argv = [args.source, "--keys", args.keys]
    if args.issued_on:
        argv += ["--issued-on", args.issued_on]
    if args.base_url:
        argv += ["--base-url", args.base_url]
    return main(argv)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("certificates", help="import, issue, revoke and check e-certificates")
    cs = p.add_subparsers(dest="cert_command", required=True)

    c = cs.add_parser("import", help="check and import a CSV/XLSX file (all or nothing)")
    c.add_argument("file")
    c.add_argument("--dry-run", action="store_true", help="check only, write nothing")
    c.add_argument("--no-qr", action="store_true",
                   help="leave the QR images to the server's background backfill")
    c.set_defaults(func=_import)

    c = cs.add_parser("committee-add", help="register a review committee and its filing")
    c.add_argument("--code", required=True)
    c.add_argument("--name", required=True)
    c.add_argument("--series", action="append", required=True, help="repeat for several")
    c.add_argument("--levels", action="append", required=True,
                   help="senior_full,senior_deputy,intermediate,assistant,junior")
    c.add_argument("--built-by", default="")
    c.add_argument("--league-city")
    c.add_argument("--filing-number")
    c.add_argument("--filed-on", type=date.fromisoformat)
    c.add_argument("--valid-until", type=date.fromisoformat)
    c.add_argument("--self-review", action="store_true")
    c.set_defaults(func=_committee_add)

    c = cs.add_parser("binding-code", help="one-time code for a holder's WeChat binding")
    c.add_argument("--id-number", help="default: read one line from stdin (keeps it out of ps)")
    c.set_defaults(func=_binding_code)

    c = cs.add_parser("revoke", help="revoke a certificate (and blacklist the holder)")
    c.add_argument("public_id")
    c.add_argument("--on", type=date.fromisoformat, required=True)
    c.add_argument("--reason", required=True)
    c.add_argument("--document", required=True)
    c.add_argument("--no-blacklist", action="store_true")
    c.set_defaults(func=_revoke)

    c = cs.add_parser("printable", help="write the printable certificate (PDF or PNG)")
    c.add_argument("public_id")
    c.add_argument("--out", required=True)
    c.set_defaults(func=_printable)

    c = cs.add_parser("keys", help="print the public keys document")
    c.set_defaults(func=_keys)

    c = cs.add_parser("verify-offline", help="check a QR image or token against a key file")
    c.add_argument("source")
    c.add_argument("--keys", required=True)
    c.add_argument("--issued-on")
    c.add_argument("--base-url")
    c.set_defaults(func=_verify_offline)

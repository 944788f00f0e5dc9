"""Command-line management of the signing keyset (server side).

Why a tool: key generation and rotation are rare, security-relevant operations done by
an operator on the server; doing them by hand in JSON invites mistakes (wrong dates,
publishing the private file). See `certificates.signing` for the file formats.

    python -m certificates.keytool generate /etc/zhicheng/signing-keys.json
    python -m certificates.keytool rotate /etc/zhicheng/signing-keys.json [--effective 2026-01-01]
    python -m certificates.keytool public /etc/zhicheng/signing-keys.json > keys.json
"""

from __future__ import annotations

import argparse
import sys
from datetime import date

from certificates.signing import KeyRing, generate_keyset, rotate_keyset

__all__ = ["main"]


def _summary(ring: KeyRing) -> str:
    lines = []
    for key in ring.keys:
        until = key.valid_until.isoformat() if key.valid_until else "open"
        private = "private+public" if key.private_key is not None else "public only"
        lines.append(f"  {key.kid}  {key.alg}  {key.valid_from.isoformat()} .. {until}  {private}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m certificates.keytool")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="create a new keyset file with one key")
    gen.add_argument("path")
    gen.add_argument("--kid")
    gen.add_argument("--valid-from", type=date.fromisoformat)
    rot = sub.add_parser("rotate", help="add a new key and end the current one the day before")
    rot.add_argument("path")
    rot.add_argument("--kid")
    rot.add_argument("--effective", type=date.fromisoformat, help="default: tomorrow (CST)")
    pub = sub.add_parser("public", help="print the public keys document (GET /api/v1/keys)")
    pub.add_argument("path")
    args = parser.parse_args(argv)

    try:
        if args.command == "generate":
            ring = generate_keyset(args.path, kid=args.kid, valid_from=args.valid_from)
        elif args.command == "rotate":
            ring = rotate_keyset(args.path, new_kid=args.kid, effective=args.effective)
        else:
            sys.stdout.write(KeyRing.from_keyset_file(args.path).public_keys_json())
            return 0
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.path}:\n{_summary(ring)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

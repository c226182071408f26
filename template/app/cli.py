"""Operator commands. The first admin is made here, never by a default account.

uv run python -m app.cli create-admin admin@example.com   # asks for the password
uv run python -m app.cli promote someone@example.com      # makes an existing user an admin
"""

import argparse
import asyncio
import getpass
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from app.auth import service
from app.auth.models import Registration, Role
from app.core.config import Settings, get_settings
from app.core.db import create_engine, create_sessionmaker
from app.core.errors import AppError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.cli", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-admin", help="create an admin account")
    create.add_argument("email")
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input, not a prompt",
    )
    promote = commands.add_parser("promote", help="give an existing user the admin role")
    promote.add_argument("email")
    return parser


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Password: ")
    if password != getpass.getpass("Repeat it: "):
        raise AppError("The passwords differ.")
    return password


async def run(argv: Sequence[str], settings: Settings) -> str:
    """Carry out one command; return what to print. Bad input raises AppError or ValidationError."""
    args = _parser().parse_args(argv)
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            if args.command == "create-admin":
                data = Registration(email=args.email, password=_read_password(args.password_stdin))
                user = await service.register(
                    session=session, settings=settings, data=data, role=Role.ADMIN
                )
                return f"Created admin {user.email}"
            user = await service.promote(session=session, email=args.email)
            return f"{user.email} is now an admin"
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        print(asyncio.run(run(sys.argv[1:] if argv is None else argv, get_settings())))
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"error: {reasons}", file=sys.stderr)
        return 2
    except AppError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The ``kefu`` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.core.config import ConfigError, Settings, load_settings, secrets_of
from bot.core.logsetup import configure_logging

if TYPE_CHECKING:
    from bot.core.crypto import Keyring

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kefu", description="客服 kefu — a customer-service bot for Telegram.")
    parser.add_argument("--config", metavar="FILE", help="config file (default: $KEFU_CONFIG or ./config.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("run", help="run the bot against Telegram (or the Bot API server in base_url)")

    sandbox = commands.add_parser("sandbox", help="try kefu in the terminal, no Telegram token needed")
    sandbox.add_argument("--database", metavar="URL", help="database URL (default: a temporary SQLite file)")
    sandbox.add_argument("--language", default="en", help="the sandbox customer's Telegram language_code (default en)")

    emulator = commands.add_parser("emulator", help="serve the local Bot API emulator (for kefu run and tests)")
    emulator.add_argument("--listen", default="127.0.0.1:8081", metavar="HOST:PORT")

    kb = commands.add_parser("kb", help="the knowledge base")
    kb_commands = kb.add_subparsers(dest="kb_command", required=True, metavar="ACTION")
    match = kb_commands.add_parser("match", help="route questions from stdin, one a line")
    match.add_argument("--kb", action="append", default=[], metavar="FILE", help="KB file (YAML, JSON or CSV); repeatable; default: the shipped KB")
    match.add_argument("--json", action="store_true", help="one JSON object a line")
    kb_import = kb_commands.add_parser("import", help="check a KB file (YAML, JSON or CSV) and add it to the shop's KB")
    kb_import.add_argument("file")
    kb_import.add_argument("--to", metavar="YAML", help="the shop's KB file (default: the first YAML in [knowledge_base] files, else data/kb-shop.yaml)")
    lint = kb_commands.add_parser(
        "lint", help="find what will make the bot route badly: templated, sibling, too few or number-only examples",
        description="Check KB files merged as the bot merges them (no FILE: the shipped KB). Exit 0 when nothing is "
        "wrong, 1 when something is (one problem a line, naming the file and entry), 2 when a file does not load.",
    )
    lint.add_argument("files", nargs="*", metavar="FILE", help="KB file (YAML, JSON or CSV)")
    lint.add_argument("--with-default", action="store_true", help="merge the shipped KB first, as the bot serves it")
    lint.add_argument("--json", action="store_true", help="one JSON object a line per problem")

    orders = commands.add_parser("orders", help="the shop's orders")
    order_commands = orders.add_subparsers(dest="orders_command", required=True, metavar="ACTION")
    order_import = order_commands.add_parser(
        "import", help="import orders from CSV or JSON lines (re-import updates)",
        description="Import orders from CSV or JSON lines. The file is read through first: a line that cannot be "
        "read (wrong encoding, a cell over 128 KiB, broken or too deeply nested JSON) stops the import with "
        "nothing written (exit 2). Rows with wrong values are reported by line and skipped, the others imported "
        "(exit 1). Importing a file again updates its orders, never duplicates them.",
    )
    order_import.add_argument("file")

    report = commands.add_parser("report", help="the service-quality report: complaints, CSAT, response times, the bot")
    report.add_argument("--days", type=int, default=30, help="the period: the last N days (default 30)")
    report.add_argument("--json", action="store_true", help="every figure as JSON instead of the summary")
    report.add_argument("--png", metavar="FILE", help="also write the chart as a PNG")
    report.add_argument("--csv", metavar="DIR", help="also write metrics.csv and series.csv into DIR")
    report.add_argument("--xlsx", metavar="FILE", help="also write the report as an Excel workbook, one sheet per table")

    privacy = commands.add_parser("privacy", help="customers' personal data: the keys that encrypt it")
    privacy_commands = privacy.add_subparsers(dest="privacy_command", required=True, metavar="ACTION")
    privacy_commands.add_parser("new-key", help="print a new key for KEFU_PRIVACY__KEYS")
    privacy_commands.add_parser("rotate", help="re-encrypt all personal data with the first key of KEFU_PRIVACY__KEYS")

    database = commands.add_parser("db", help="database schema")
    db_commands = database.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="apply pending migrations (kefu also does this at start)")
    make = db_commands.add_parser("makemigrations", help="(developers) write a migration for changed models")
    make.add_argument("--name", help="a name for the migration")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_dispatch(args))
    except ConfigError as exc:
        print(f"kefu: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


async def _dispatch(args: argparse.Namespace) -> int:
    level = logging.DEBUG if args.verbose else logging.INFO
    if args.command == "db" and args.db_command == "makemigrations":
        from tortoise.cli.cli import run_cli_async

        extra = ["--name", args.name] if args.name else []
        return await run_cli_async(["-c", "bot.core.db.TORTOISE_ORM", "makemigrations", *extra])

    if args.command == "emulator":
        from bot.emulator import BotAPIEmulator

        configure_logging(level=level)
        host, _, port = args.listen.rpartition(":")
        emulator = BotAPIEmulator()
        await emulator.start(host, int(port))
        logging.getLogger("kefu").info("Bot API emulator at %s (token: any)", emulator.base_url)
        await asyncio.Event().wait()
        return 0

    if args.command == "privacy" and args.privacy_command == "new-key":
        from bot.core.crypto import new_key

        print(new_key())
        return 0

    if args.command == "kb" and args.kb_command == "match":
        from knowledge_base.match_cli import run_match, run_match_text

        runner = run_match if args.json else run_match_text
        return runner(args.kb, sys.stdin, sys.stdout, sys.stderr)

    if args.command == "kb" and args.kb_command == "lint":
        from knowledge_base.lint import run_lint

        return run_lint(args.files, sys.stdout, sys.stderr, as_json=args.json, include_default=args.with_default)

    settings = load_settings(args.config)
    if args.command == "kb":
        return _kb_import(settings, args.file, args.to)
    secrets = secrets_of(settings)
    keyring = _install_privacy_keys(args, settings)
    secrets += keyring.keys if keyring is not None else []
    if args.command == "sandbox":
        from bot.sandbox import run_sandbox

        configure_logging(secrets, level=level if args.verbose else logging.WARNING)
        return await run_sandbox(settings, database_url=args.database, language_code=args.language)

    configure_logging(secrets, level=level)
    if args.command == "run":
        from bot.runtime import run

        await run(settings)
        return 0
    if args.command == "orders":
        from bot.runtime import open_database
        from orders.importer import cli_import

        async with open_database(settings):
            return await cli_import(args.file, region=settings.orders.default_region)
    if args.command == "report":
        from bot.runtime import open_database
        from reports import report_options
        from reports.export import run_report

        if not 1 <= args.days <= 3660:
            raise ConfigError("--days must be between 1 and 3660.")
        async with open_database(settings):
            return await run_report(
                days=args.days, timezone=settings.scheduler.timezone, periods=settings.reports.periods,
                language=settings.telegram.agent_language, as_json=args.json, png=args.png, csv_dir=args.csv, xlsx=args.xlsx,
                options=report_options(settings),
            )
    if args.command == "privacy":
        from bot.privacy import rotate
        from bot.runtime import open_database

        async with open_database(settings):
            counts = await rotate()
        print("kefu: re-encrypted with the first key: " + ", ".join(f"{n} rows of {t}" for t, n in counts.items()))
        print("kefu: other keys may now be removed from KEFU_PRIVACY__KEYS")
        return 0
    if args.command == "db":
        from bot.runtime import open_database

        async with open_database(settings):
            print(f"kefu: the database is up to date ({_safe_url(settings)})")
        return 0
    raise AssertionError(args.command)


def _install_privacy_keys(args: argparse.Namespace, settings: Settings) -> Keyring | None:
    """Commands that write personal data need a key (`kefu run` says first that it needs a token);
    the others use the keys when given (the sandbox makes a throw-away one if none is)."""
    from bot.privacy import install_keys

    token_first = args.command == "run" and settings.telegram.token is None
    return install_keys(settings, required=args.command in ("run", "orders", "privacy") and not token_first)


def _safe_url(settings: Settings) -> str:
    from bot.runtime import redact_url

    return redact_url(settings.database.url)


def _kb_import(settings: Settings, source: str, to: str | None) -> int:
    from knowledge_base.entries import KBError
    from knowledge_base.loader import import_file, language_gaps, load_file

    files = settings.knowledge_base.files
    target = to or next((f for f in files if f.endswith((".yaml", ".yml"))), "data/kb-shop.yaml")
    try:
        ids = import_file(source, target, max_bytes=settings.knowledge_base.max_file_bytes)
    except (KBError, OSError) as error:
        problems = error.problems if isinstance(error, KBError) else []
        if len(problems) > 1:  # each on its line, to fix the file in one go
            print(f"kefu: {source} was not imported:\n{error}", file=sys.stderr)
        else:
            reason = str(problems[0]).removeprefix(f"{source}: ") if problems else str(error)
            print(f"kefu: {source} was not imported: {reason}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"kefu: imported {len(ids)} entries from {source} into {target}")
    for gap in language_gaps(load_file(source, max_bytes=settings.knowledge_base.max_file_bytes)):
        print(f"kefu: warning: {gap}", file=sys.stderr)
    if target not in files:
        print(f"kefu: serve it with KEFU_KNOWLEDGE_BASE__FILES='{json.dumps([*files, target])}' (or files in config.toml)")
    return 0

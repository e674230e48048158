"""The `suggest-api` command: serve (migrate, then gunicorn), migrate, teams and keys, export and import, --version."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from suggest_api import __version__
from suggest_api.accounts import DEFAULT_TEAM
from suggest_api.accounts import QUOTA_NAMES as QUOTA_FLAGS
from suggest_api.config import Limits, Settings
from suggest_api.importers import optuna_study

#: Settings with a flag of the same name (docs/operations.md: "Many workers and replicas").
RELIABILITY_SETTINGS = ("pool_size", "max_overflow", "pool_timeout", "statement_timeout", "lock_timeout",
                        "max_model_fits", "model_fit_budget", "idempotency_ttl", "request_header_timeout",
                        "request_body_timeout", "keepalive_timeout", "max_connections", "max_queued_requests")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="suggest-api", description="A service that suggests hyperparameters.")
    parser.add_argument("--version", action="version", version=f"suggest-api {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run migrations, then serve HTTP with gunicorn")
    _database_flag(serve)
    serve.add_argument("--host", help="address to bind (SUGGEST_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (SUGGEST_PORT, default 8000)")
    serve.add_argument("--workers", type=int, help="gunicorn worker processes (SUGGEST_WORKERS, default 2)")
    serve.add_argument("--threads", type=int, help="threads per worker (SUGGEST_THREADS, default 4)")
    serve.add_argument("--log-level", help="SUGGEST_LOG_LEVEL, default INFO")
    serve.add_argument("--default-heartbeat-timeout", type=float,
                       help="seconds, for studies that name none (SUGGEST_DEFAULT_HEARTBEAT_TIMEOUT, default 300)")
    for name in RELIABILITY_SETTINGS:
        default = getattr(Settings(), name)
        serve.add_argument("--" + name.replace("_", "-"), type=type(default),
                           help=f"SUGGEST_{name.upper()}, default {default:g}")
    for field in fields(Limits):
        flag = "--" + field.name.replace("_", "-")
        serve.add_argument(flag, type=int, help=f"SUGGEST_{field.name.upper()}, default {field.default}")

    migrate = commands.add_parser("migrate", help="bring the database schema to this version's head")
    _database_flag(migrate)
    _account_commands(commands)
    _transfer_commands(commands)
    optuna_study.add_parser(commands)

    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k in _SETTING_NAMES and v is not None}
    settings = Settings.from_env(**overrides)
    if args.command in ("teams", "keys"):
        return _accounts(args, settings)
    if args.command in ("export", "import"):
        return _transfer(args, settings)
    if args.command == "import-optuna":
        return optuna_study.run(args, settings)
    if args.command == "migrate":
        _migrate(settings)
        print(f"database at {_redacted(settings.database_url)} is at the latest schema")
        return 0
    _migrate(settings)
    from suggest_api.server import gunicorn_app

    return gunicorn_app.serve(settings)


_SETTING_NAMES = {f.name for f in fields(Settings)} | {f.name for f in fields(Limits)}


def _account_commands(commands: Any) -> None:
    """`teams create|list|set-quota` and `keys create|list|revoke`: the operator's way in (no key needed,
    only the database URL). Each runs the migrations first, so they work on a fresh database."""
    teams = commands.add_parser("teams", help="create and list teams, set their quotas").add_subparsers(
        dest="action", required=True)
    create = teams.add_parser("create", help="create a team")
    create.add_argument("name")
    set_quota = teams.add_parser("set-quota", help="set a team's quotas (0: back to the service's default)")
    set_quota.add_argument("name")
    for parser in (create, set_quota):
        for quota in QUOTA_FLAGS:
            parser.add_argument("--" + quota.replace("_", "-"), type=int, dest=quota,
                                help=f"default: SUGGEST_QUOTA_{quota.upper()}")
    teams.add_parser("list", help="list teams with their quotas")

    keys = commands.add_parser("keys", help="create, list and revoke API keys").add_subparsers(
        dest="action", required=True)
    create_key = keys.add_parser("create", help="make an API key and print it (shown this once)")
    create_key.add_argument("--team", required=True)
    create_key.add_argument("--role", required=True, choices=["admin", "member", "read"])
    create_key.add_argument("--label", help="what the key is for; shown in listings")
    list_keys = keys.add_parser("list", help="list a team's keys (never the keys themselves)")
    list_keys.add_argument("--team", required=True)
    revoke = keys.add_parser("revoke", help="revoke a key by its id (refused from its next request on)")
    revoke.add_argument("key_id")
    for parser in (create, set_quota, *teams.choices.values(), create_key, list_keys, revoke):
        if not any(action.dest == "database_url" for action in parser._actions):
            _database_flag(parser)


def _accounts(args: argparse.Namespace, settings: Settings) -> int:
    from suggest_api.accounts import Role
    from suggest_api.errors import SuggestError
    from suggest_api.service import accounts
    from suggest_api.storage.database import make_engine, make_sessions, transaction
    from suggest_api.storage.migrate import upgrade

    engine = make_engine(settings.database_url, settings)
    try:
        upgrade(engine)
        sessions = make_sessions(engine)
        with transaction(sessions, write=True) as session:
            quotas = accounts.QuotaChange(**{q: getattr(args, q, None) for q in QUOTA_FLAGS})
            if (args.command, args.action) == ("teams", "create"):
                team = accounts.create_team(session, args.name, settings.limits, quotas)
                print(f"team {team.name} created")
            elif (args.command, args.action) == ("teams", "set-quota"):
                team = accounts.set_quotas(session, args.name, quotas)
                print(f"team {team.name}: {_quotas_text(accounts.quotas_of(team, settings))}")
            elif (args.command, args.action) == ("teams", "list"):
                for team in accounts.list_teams(session):
                    print(f"{team.name}\t{_quotas_text(accounts.quotas_of(team, settings))}")
            elif (args.command, args.action) == ("keys", "create"):
                created = accounts.create_key_for_team(session, args.team, Role(args.role), args.label,
                                                     settings.limits)
                print(created.secret)
                print(f"key {created.info.key_id} ({args.role}) for team {args.team}: store it now, it is not "
                      "shown again", file=sys.stderr)
            elif (args.command, args.action) == ("keys", "list"):
                for info in accounts.list_team_keys(session, args.team):
                    state = f"revoked {info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "active"
                    print(f"{info.key_id}\t{info.role.value}\t{state}\t{info.label or ''}")
            else:
                info = accounts.revoke_any_key(session, args.key_id)
                print(f"key {info.key_id} revoked")
    except SuggestError as error:
        print(f"suggest-api: {error.detail}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def _transfer_commands(commands: Any) -> None:
    """`export NAME` and `import FILE`: a whole study as one JSON document (docs/integrations.md), straight from
    and to the database, so neither a key nor the HTTP body limit is needed."""
    export = commands.add_parser("export", help="print a study as a JSON document (definition, trials, reports)")
    export.add_argument("name", help="the study")
    export.add_argument("--output", "-o", help="write to this file instead of standard output")
    imported = commands.add_parser("import", help="make a study from a document that `export` wrote (idempotent)")
    imported.add_argument("file", help="the document; - reads standard input")
    imported.add_argument("--name", help="import under this name instead of the document's own")
    for parser in (export, imported):
        parser.add_argument("--team", default=DEFAULT_TEAM,
                            help=f"the team that owns the study (default {DEFAULT_TEAM})")
        _database_flag(parser)


def _transfer(args: argparse.Namespace, settings: Settings) -> int:
    import json
    from pathlib import Path

    from suggest_api.api.strict_json import BodyRefused, loads
    from suggest_api.errors import SuggestError
    from suggest_api.service import transfer

    try:
        if args.command == "export":
            with transfer.operator(settings, args.team) as (transactions, who):
                document = transactions.read(lambda session: transfer.export_study(session, who, args.name))
            text = json.dumps(document, ensure_ascii=False, indent=1) + "\n"
            if args.output:
                with open(args.output, "w", encoding="utf-8") as out:
                    out.write(text)
            else:
                sys.stdout.write(text)
            return 0
        raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
        try:
            document = loads(raw)
        except BodyRefused as error:
            print(f"suggest-api: {args.file} is not a study document: {error.detail}", file=sys.stderr)
            return 1
        who, result = transfer.import_as_operator(settings, args.team, document, name=args.name)
        total = result.study.trial_counts.total
        if result.created:
            print(f"study {result.study.name!r} imported into team {who.team_name!r} with {total} trials",
                  file=sys.stderr)
        else:
            print(f"study {result.study.name!r} was already in team {who.team_name!r} with the same content; "
                  "nothing was written", file=sys.stderr)
        return 0
    except OSError as error:
        print(f"suggest-api: {error}", file=sys.stderr)
        return 1
    except SuggestError as error:
        print(f"suggest-api: {error.detail}", file=sys.stderr)
        for where, problems in (error.errors or {}).items():
            print(f"  {where}: {'; '.join(str(p) for p in problems)}", file=sys.stderr)
        return 1


def _quotas_text(quotas: Any) -> str:
    return (f"max_studies={quotas.max_studies} max_running_trials={quotas.max_running_trials} "
            f"max_trials_per_ask={quotas.max_trials_per_ask}")


def _database_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="SUGGEST_DATABASE_URL, default sqlite:///./suggest.db")


def _migrate(settings: Settings) -> None:
    from suggest_api.storage.database import make_engine
    from suggest_api.storage.migrate import upgrade

    engine = make_engine(settings.database_url, settings)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    sys.exit(main())

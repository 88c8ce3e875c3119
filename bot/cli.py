"""The `minqing` command line."""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from bot.app import Relay, model_problem
from bot.clock import ManualClock, SystemClock
from bot.config import Config, ConfigError, calendar_warnings, load_config
from bot.listing import iso, request_json
from bot.logs import setup_logging
from bot.render import STATUS_NAMES, TIER_NAMES
from bot.replay import Replayer, ReplayInputError, parse_time, said_json
from bot.review_cli import register as register_review_commands
from bot.tagger_cli import tagger_app
from bot.transport import SimulatedTransport
from routing.model import Status, Tier
from routing.ports import RequestFilter
from storage.db import Database, DatabaseError, database_url

OK, FAILURE, BAD_CONFIG, BAD_INPUT = 0, 1, 2, 3

app = typer.Typer(
    name="minqing",
    help="民情直通车 minqing-relay: villagers' requests relayed up the village, township and county groups.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(tagger_app, name="tagger")
err = Console(stderr=True, soft_wrap=True, highlight=False)


def _out() -> Console:
    """Standard output; wide when it is not a terminal, so tables are not cut for files and pipes."""
    return Console(soft_wrap=True, highlight=False, width=None if sys.stdout.isatty() else 200)


ROLE_NAMES = {"village_cadre": "村干部", "township_staff": "镇工作人员", "township_leader": "镇领导",
              "county_staff": "县工作人员"}

ConfigOpt = Annotated[
    Path,
    typer.Option("--config", "-c", envvar="MINQING_CONFIG", help="The config file (TOML).", show_default=True),
]
DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Database path or URL (default: the database named in the config)."),
]


class Exit(Exception):
    """Leave the CLI with a message and an exit status."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code


@app.callback()
def _main(
    ctx: typer.Context,
    log_level: Annotated[str | None, typer.Option(
        "--log-level", help="debug, info, warning or error (default: info for run, else warning).")] = None,
    log_format: Annotated[str, typer.Option("--log-format", help="text or json (one JSON object a line).")] = "text",
) -> None:
    """Set up logging for every command."""
    log_level = log_level or ("info" if ctx.invoked_subcommand == "run" else "warning")
    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int) or log_format not in ("text", "json"):
        raise typer.BadParameter("--log-level is debug|info|warning|error and --log-format is text|json")
    setup_logging(level, log_format)


def _config(path: Path) -> Config:
    try:
        return load_config(path)
    except ConfigError as e:
        raise Exit(BAD_CONFIG, str(e)) from None


def _database(config: Config, db: str | None, *, must_exist: bool = False) -> Database:
    url = database_url(db, Path.cwd()) if db else database_url(config.database, config.base_dir)
    try:
        database = Database(url, config.county.name, create=False)
        if must_exist and not database.has_tables():
            raise Exit(FAILURE, f"{database.safe_url} holds no minqing-relay data yet")
        database.create()
        return database
    except DatabaseError as e:
        raise Exit(FAILURE, str(e)) from None


def _open(config: Path, db: str | None) -> tuple[Console, Config, Database]:
    """Standard output, the config and its database: what most commands start with."""
    cfg = _config(config)
    return _out(), cfg, _database(cfg, db)


# --- check-config ---------------------------------------------------------------
@app.command("check-config")
def check_config(path: Annotated[Path, typer.Argument(help="The config file to check.")]) -> None:
    """Validate a config; print the tier tree, or every problem (exit 2)."""
    out = _out()
    config = _config(path)
    if problem := model_problem(config):
        raise Exit(BAD_CONFIG, problem)
    county = config.county

    def people(members) -> str:
        return "、".join(m.name + (f"({m.wechat_id})" if m.wechat_id else "") for m in members) or "—"

    tree = Tree(f"[bold]{county.name}[/]  {county.room}", guide_style="dim")
    tree.add(f"县级: {people(county.staff)}")
    for t in county.townships:
        node = tree.add(f"[bold]{t.name}[/]  {t.room}")
        node.add(f"班子群: {t.leaders_room or '—'}")
        node.add(f"工作人员: {people(t.staff)}  领导: {people(t.leaders)}")
        for v in t.villages:
            node.add(f"[bold]{v.name}[/]  {v.room}  村干部: {people(v.cadres)}")
    out.print(tree)
    p = config.policy
    out.print(f"时限: 响应 {p.sla.acknowledge}, 办结 {p.sla.resolve}; 紧急 {p.sla.urgent_acknowledge} / "
              f"{p.sla.urgent_resolve}; 提醒间隔 {p.sla.remind_every}; 评价期 {p.sla.rating_window}")
    for name, d in sorted(p.sla.category_resolve.items()):
        out.print(f"  {name}: 办结 {d}")
    for name, d in sorted(p.sla.category_acknowledge.items()):
        out.print(f"  {name}: 响应 {d}")
    auto = p.escalation.auto_after or "never"
    out.print(f"上报: 提请 {p.escalation.propose_after}, 自动 {auto}; 直报镇级: "
              f"{'、'.join(sorted(p.escalation.direct_to_township)) or '—'}")
    for w in calendar_warnings(config, SystemClock().now().astimezone(config.tz).date()):
        err.print(f"warning: {w}", markup=False, highlight=False)
    out.print(f"[green]OK[/] {path}: {len(county.townships)} townships, {len(county.villages())} villages, "
              f"{len(county.rooms)} rooms, {len(county.members())} handlers")


# --- replay ------------------------------------------------------------------------
@app.command()
def replay(
    file: Annotated[Path, typer.Argument(help="JSON Lines of chat messages ('-' for standard input).")],
    config: ConfigOpt = Path("config.toml"),
    db: DbOpt = None,
    until: Annotated[str | None, typer.Option("--until", help="Run the clock on to this time after the last line.")] = None,
) -> None:
    """Replay chat messages through the bot on a simulated clock; print what it said as JSON Lines."""
    cfg = _config(config)
    until_ts = None
    if until:
        try:
            until_ts = parse_time(until, cfg.tz)
        except ValueError as e:
            raise Exit(BAD_CONFIG, f"--until: {e}") from None
    runs: list[Relay] = []
    with _temporary_db(cfg, db) as database:
        emitted = _run_replay(cfg, database, file, until_ts, runs)
    logging.getLogger(__name__).info("replay done: the bot said %d messages", emitted)
    if runs and runs[0].failed:
        raise Exit(FAILURE, f"{runs[0].failed} messages could not be handled (kept in the database: `minqing failed`)")


@contextmanager
def _temporary_db(cfg: Config, db: str | None):
    if db:
        database = _database(cfg, db)
        try:
            yield database
        finally:
            database.dispose()
        return
    with tempfile.TemporaryDirectory(prefix="minqing-") as folder:
        database = _database(cfg, str(Path(folder) / "replay.db"))
        try:
            yield database
        finally:
            database.dispose()


def _run_replay(cfg: Config, database: Database, file: Path, until: datetime | None, runs: list[Relay]) -> int:
    clock = ManualClock(datetime.fromtimestamp(0).astimezone(cfg.tz))
    emitted = 0

    def emit(said) -> None:
        nonlocal emitted
        emitted += 1
        sys.stdout.write(said_json(said, cfg.tz) + "\n")
        sys.stdout.flush()

    relay = Relay(cfg, database, SimulatedTransport(clock, on_send=emit))
    runs.append(relay)
    replayer = Replayer(relay, clock)
    if replayer.mark is not None:
        clock.set(replayer.mark)
    try:
        stream = sys.stdin if str(file) == "-" else file.open(encoding="utf-8")
    except OSError as e:
        raise Exit(BAD_CONFIG, f"cannot read {file}: {e.strerror}") from None
    try:
        replayer.feed(stream)
        replayer.finish(until)
    except ReplayInputError as e:
        raise Exit(BAD_INPUT, f"{file}: {e}") from None
    except UnicodeDecodeError as e:
        raise Exit(BAD_INPUT, f"{file}: not UTF-8 text ({e.reason})") from None
    finally:
        if stream is not sys.stdin:
            stream.close()
    return emitted


# --- list, show, people ------------------------------------------------------------
@app.command("list")
def list_requests(
    config: ConfigOpt = Path("config.toml"),
    db: DbOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array (the documented listing).")] = False,
    status: Annotated[list[str] | None, typer.Option("--status", help="Only these statuses.")] = None,
    township: Annotated[str | None, typer.Option("--township")] = None,
    village: Annotated[str | None, typer.Option("--village")] = None,
    tier: Annotated[str | None, typer.Option("--tier", help="village, township or county.")] = None,
) -> None:
    """List requests."""
    out = _out()
    cfg = _config(config)
    try:
        flt = RequestFilter(
            statuses=frozenset(Status(s) for s in status) if status else None,
            tier=Tier.from_key(tier) if tier else None,
            township=township,
            village=village,
        )
    except (ValueError, KeyError) as e:
        raise Exit(BAD_CONFIG, f"bad filter: {e}") from None
    database = _database(cfg, db)
    with database.transaction() as tx:
        requests = tx.find(flt)
    if as_json:
        sys.stdout.write(json.dumps([request_json(r, cfg.tz) for r in requests], ensure_ascii=False, indent=2) + "\n")
        return
    table = Table("#", "状态", "层级", "村", "分类", "经办人", "提出人", "登记时间", "内容", box=None)
    for r in requests:
        table.add_row(
            str(r.number), STATUS_NAMES[r.status.value], TIER_NAMES[r.tier], f"{r.township}{r.village}",
            r.category + ("·紧急" if r.urgent else ""), r.handler or "—", r.requester,
            r.created_at.astimezone(cfg.tz).strftime("%m-%d %H:%M"), r.text[:30],
        )
    out.print(table)
    out.print(f"{len(requests)} requests")


@app.command()
def show(
    number: Annotated[int, typer.Argument(help="The request number.")],
    config: ConfigOpt = Path("config.toml"),
    db: DbOpt = None,
) -> None:
    """Show one request with its whole event log."""
    out, cfg, database = _open(config, db)
    with database.transaction() as tx:
        r = tx.get(number)
        events = tx.events(number) if r else []
    if r is None:
        raise Exit(FAILURE, f"no request #{number}")
    out.print_json(json.dumps(request_json(r, cfg.tz), ensure_ascii=False))
    table = Table("时间", "事件", "层级", "人", "状态", "说明", box=None)
    for e in events:
        table.add_row(iso(e.at, cfg.tz), e.kind.value, e.tier.key, e.actor or "(bot)",
                      f"{e.from_status.value if e.from_status else ''}→{e.to_status.value if e.to_status else ''}",
                      " ".join(x for x in (e.rule and f"[{e.rule}]", e.note) if x)[:60])
    out.print(table)


@app.command()
def people(config: ConfigOpt = Path("config.toml"), db: DbOpt = None) -> None:
    """List the people seen in the configured rooms, with their WeChat ids, to copy into the config."""
    out, cfg, database = _open(config, db)
    roles: dict[str, list[str]] = {}
    for m in cfg.county.members():
        unit = m.village or m.township or cfg.county.name
        roles.setdefault(m.wechat_id or m.name, []).append(f"{unit}{ROLE_NAMES[m.role.value]}")
    with database.transaction() as tx:
        seen = tx.people()
        pins = tx.pins()
    table = Table("名字", "微信 id", "角色", "群", "消息数", "最后发言", "备注", box=None)
    for p in seen:
        role = roles.get(p.contact_id or "", []) or roles.get(p.name, [])
        note = ""
        if p.name in pins:
            note = "已绑定" if pins[p.name] == p.contact_id else "名字冲突: 无权限"
        table.add_row(p.name, p.contact_id or "—", "、".join(role) or "群众", "、".join(p.rooms), str(p.messages),
                      iso(p.last_seen, cfg.tz)[:16], note)
    out.print(table)


@app.command()
def rooms(config: ConfigOpt = Path("config.toml"), db: DbOpt = None) -> None:
    """List the rooms (group topics) messages came from; rooms not in the config are ignored until added."""
    out, cfg, database = _open(config, db)
    with database.transaction() as tx:
        seen = tx.rooms()
    table = Table("群名", "在配置中", "消息数", "首次", "最近", box=None)
    for r in seen:
        table.add_row(r.topic, "是" if r.configured else "否（忽略）", str(r.messages), iso(r.first_seen, cfg.tz)[:16],
                      iso(r.last_seen, cfg.tz)[:16])
    out.print(table)
    missing = [room for room in cfg.county.rooms if room not in {r.topic for r in seen}]
    if missing:
        out.print("配置中但还没收到过消息的群: " + "、".join(missing))


@app.command()
def failed(config: ConfigOpt = Path("config.toml"), db: DbOpt = None) -> None:
    """List the messages the bot failed to handle because of an error of its own (kept, never lost)."""
    out, cfg, database = _open(config, db)
    with database.transaction() as tx:
        rows = tx.failures()
    table = Table("时间", "群", "发送人", "内容", "错误", box=None)
    for r in rows:
        table.add_row(iso(r.ts, cfg.tz)[:16], r.room, r.sender, r.text[:40], r.error[:60])
    out.print(table)
    out.print(f"{len(rows)} failed messages")


@app.command()
def backup(
    out_file: Annotated[Path, typer.Argument(help="Where to write the copy (a SQLite file).")],
    config: ConfigOpt = Path("config.toml"),
    db: DbOpt = None,
) -> None:
    """Copy the SQLite database consistently while the bot runs (for PostgreSQL use pg_dump)."""
    cfg = _config(config)
    database = _database(cfg, db)
    if not database.is_sqlite:
        raise Exit(BAD_CONFIG, "the database is PostgreSQL: back it up with pg_dump")
    if out_file.exists():
        raise Exit(BAD_CONFIG, f"{out_file} exists; choose a new file name")
    try:
        pages = database.backup_to(out_file)
    except OSError as e:
        raise Exit(FAILURE, f"cannot write {out_file}: {e}") from None
    _out().print(f"backed up {database.safe_url} to {out_file} ({pages} pages)")


# --- run ---------------------------------------------------------------------------
@app.command()
def run(config: ConfigOpt = Path("config.toml"), db: DbOpt = None) -> None:
    """Run the bot in the WeChat groups through a Wechaty puppet-service gateway, until SIGINT/SIGTERM."""
    from bot.live import StartupError, live_settings, run_live

    cfg = _config(config)
    try:
        settings = live_settings(cfg)
        database = _database(cfg, db)
        try:
            run_live(cfg, database, settings)
        finally:
            database.dispose()
    except StartupError as e:
        # `run` speaks through its log (text or JSON lines), where operators look
        logging.getLogger("bot.live").error("%s", e, extra={"event": "startup_failed"})
        raise Exit(BAD_CONFIG) from None


# --- demo ------------------------------------------------------------------------
@app.command()
def demo() -> None:
    """Replay a scripted week in the example county on simulated groups; print the transcript and a summary."""
    from bot.demo import run_demo

    # the summary table is wider than the 80 columns rich assumes when output is piped
    out = _out()
    run_demo(Console(soft_wrap=True, width=max(out.width, 110)) if sys.stdout.isatty() else out)


register_review_commands(app)  # export, report: bot/review_cli.py


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `minqing` console script."""
    try:
        result = app(args=argv, standalone_mode=False)
        if isinstance(result, int) and result:  # a typer.Exit(code) comes back as its code
            sys.exit(result)
    except Exit as e:
        if e.args and e.args[0]:
            err.print(e.args[0], markup=False, highlight=False)
        sys.exit(e.code)
    except ConfigError as e:  # found after loading, e.g. an unusable [tagging] model file
        err.print(str(e), markup=False, highlight=False)
        sys.exit(BAD_CONFIG)
    except typer.Abort:
        sys.exit(FAILURE)
    except Exception as e:  # click's usage errors carry their own exit code
        code = getattr(e, "exit_code", None)
        if code is not None and hasattr(e, "show"):
            e.show()
            sys.exit(BAD_CONFIG if code == 2 else code)
        logging.getLogger("minqing").exception("failed: %s", e)
        sys.exit(FAILURE)


if __name__ == "__main__":
    main()

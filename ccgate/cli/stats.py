"""`ccgate stats`, `ccgate stats blocks` and `ccgate statusline`: parse, call one report function, render.

The report functions live in ccgate.reports (the dashboard calls the same ones); rich and
genai-prices are imported only inside the commands.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from ccgate.cli._common import choices, complete_tz
from ccgate.errors import UsageError

BY_CHOICES = ("day", "week", "month", "hour", "model", "profile", "session", "account", "billing", "agent")


def _context(tz_name: str | None, since: str | None, until: str | None, default_days: int) -> tuple[Any, float, float]:
    from datetime import datetime

    from ccgate.reports import timespec
    from ccgate.reports.stats import FAR_FUTURE

    tz = timespec.resolve_tz(tz_name)
    now = datetime.now(tz)
    start = timespec.parse_when(since, tz, now, end=False) if since else timespec.default_since(tz, now, default_days)
    end = timespec.parse_when(until, tz, now, end=True) if until else FAR_FUTURE
    if end <= start:
        raise UsageError("--until must be later than --since")
    return tz, start, end


def _pricer(config: Any) -> Any:
    from ccgate.reports.pricing import Pricer, default_cache_file

    return Pricer.from_config(config, default_cache_file())


def _profile_kinds(config: Any) -> dict[str, str]:
    return {name: str(table.get("kind")) for name, table in config.profiles.items() if isinstance(table, dict)}


def _check_format(as_json: bool, as_csv: bool) -> None:
    if as_json and as_csv:
        raise UsageError("choose one of --json and --csv")


def run_stats(
    by: str,
    since: str | None,
    until: str | None,
    tz_name: str | None,
    profile: str | None,
    model: str | None,
    breakdown: bool,
    as_json: bool,
    as_csv: bool,
    chart: bool,
    session: str | None = None,
) -> None:
    from ccgate.cli._common import load
    from ccgate.reports import render
    from ccgate.reports.stats import StatsQuery, stats_report
    from ccgate.usage import store

    _check_format(as_json, as_csv)
    if by not in BY_CHOICES:
        raise UsageError(f"--by must be one of {', '.join(BY_CHOICES)}, not {by!r}")
    config = load()
    tz, start, end = _context(tz_name, since, until, 7)
    conn = store.connect_reader()
    if conn is None:
        conn = _empty_db()
    if by == "agent" or session is not None:
        run_agents(conn, _pricer(config), start, end, session, as_json, as_csv)
        return
    query = StatsQuery(by=by, since=start, until=end, tz=tz, profile=profile, model=model, breakdown=breakdown)
    report = stats_report(
        conn,
        _pricer(config),
        query,
        profile_kinds=_profile_kinds(config),
        plan_monthly_usd=config.settings.plan_monthly_usd,
    ).to_dict()
    _check_profile_filter(config, profile, bool(report["rows"]))
    if by == "session":
        from ccgate.reports.sessions import add_session_details

        add_session_details(conn, report["rows"], start, end, tz)
    if as_json:
        print(render.to_json(report))
    elif as_csv:
        sys.stdout.write(render.stats_csv(report))
    else:
        render.print_stats(report, chart=chart, breakdown=breakdown)
        if not report["rows"]:
            _hint_empty()


def run_agents(
    conn: Any, pricer: Any, start: float, end: float, session: str | None, as_json: bool, as_csv: bool
) -> None:
    from ccgate.reports import render
    from ccgate.reports.agents import session_trees

    if session is not None:
        # One session is shown whole, whatever the default range would cut off.
        start, end = 0.0, float("inf")
    trees = session_trees(conn, pricer, since=start, until=end, session=session)
    if session is not None and not trees:
        raise UsageError(f"no requests logged for session {session!r}")
    if as_json:
        print(render.to_json({"by": "agent", "sessions": trees}))
    elif as_csv:
        sys.stdout.write(render.agents_csv(trees))
    else:
        render.print_agent_trees(trees)


def _check_profile_filter(config: Any, profile: str | None, found_rows: bool) -> None:
    """A --profile that is neither configured nor in the log for this range is a typo, not an empty report."""
    if profile is None or found_rows or profile in config.profiles:
        return
    from ccgate.errors import ProfileNotFound
    from ccgate.profiles import suggestion

    raise ProfileNotFound(profile, suggestion(profile, config.profiles))


def _empty_db() -> Any:
    """An in-memory log with the real schema, so an empty report has the same shape as a full one."""
    from ccgate.usage import store

    conn = store.open_db(":memory:")  # type: ignore[arg-type]
    store.migrate(conn)
    return conn


def run_blocks(
    since: str | None, until: str | None, tz_name: str | None, profile: str | None, as_json: bool, as_csv: bool
) -> None:
    from ccgate.cli._common import load
    from ccgate.reports import render
    from ccgate.reports.blocks import blocks_report
    from ccgate.usage import store

    _check_format(as_json, as_csv)
    config = load()
    tz, start, end = _context(tz_name, since, until, 7)
    conn = store.connect_reader() or _empty_db()
    report = blocks_report(conn, _pricer(config), start, end, profile=profile)
    _check_profile_filter(config, profile, bool(report["blocks"]))
    if as_json:
        print(render.to_json(report))
    elif as_csv:
        sys.stdout.write(render.blocks_csv(report))
    else:
        render.print_blocks(report, tz)
        if not report["blocks"]:
            _hint_empty()


def _hint_empty() -> None:
    print(
        "ccgate: no requests in this range (the usage log fills while `ccgate serve` runs; try --since 30d)",
        file=sys.stderr,
    )


def run_statusline() -> None:
    from ccgate.reports.statusline import main

    main()


def register(app: typer.Typer) -> None:
    stats_app = typer.Typer(
        name="stats",
        help="What you used and what it would cost at API prices, by period, model, profile or session.",
        invoke_without_command=True,
        no_args_is_help=False,
    )

    @stats_app.callback(invoke_without_command=True)
    def stats_cmd(
        ctx: typer.Context,
        by: str = typer.Option(
            "day", "--by", help=f"Group by: {', '.join(BY_CHOICES)}.", autocompletion=choices(BY_CHOICES)
        ),
        since: str | None = typer.Option(
            None, "--since", help="Start: YYYY-MM-DD, YYYY-MM-DDTHH:MM, today, or 24h/7d/2w ago. Default: 7 days."
        ),
        until: str | None = typer.Option(None, "--until", help="End (a date includes that whole day). Default: now."),
        tz: str | None = typer.Option(
            None, "--tz", help="IANA time zone for periods (default: local).", autocompletion=complete_tz
        ),
        profile: str | None = typer.Option(None, "--profile", help="Only this profile."),
        model: str | None = typer.Option(None, "--model", help="Only models whose name contains this."),
        breakdown: bool = typer.Option(False, "--breakdown", help="Split each row by model."),
        as_json: bool = typer.Option(False, "--json", help="JSON (fields: README 'Stats fields')."),
        as_csv: bool = typer.Option(False, "--csv", help="CSV with the same field names."),
        chart: bool = typer.Option(False, "--chart", help="Bar chart of cost per row."),
        session: str | None = typer.Option(
            None, "--session", help="One session as a tree: main loop, agents, agents of agents (implies --by agent)."
        ),
    ) -> None:
        """Usage and cost reports (default: the last 7 days by day, with totals)."""
        if ctx.invoked_subcommand is not None:
            return
        run_stats(by, since, until, tz, profile, model, breakdown, as_json, as_csv, chart, session)

    @stats_app.command("blocks", epilog="Example: ccgate stats blocks --since 2d --json")
    def blocks_cmd(
        since: str | None = typer.Option(None, "--since", help="Start (default: 7 days ago)."),
        until: str | None = typer.Option(None, "--until", help="End (default: now)."),
        tz: str | None = typer.Option(
            None, "--tz", help="IANA time zone for display (default: local).", autocompletion=complete_tz
        ),
        profile: str | None = typer.Option(None, "--profile", help="Only this profile (limits are per account)."),
        as_json: bool = typer.Option(False, "--json", help="JSON output."),
        as_csv: bool = typer.Option(False, "--csv", help="CSV output."),
    ) -> None:
        """5-hour blocks, the active block's burn rate and projection, and the upstream's real utilization."""
        run_blocks(since, until, tz, profile, as_json, as_csv)

    app.add_typer(stats_app, name="stats")

    @app.command(
        "statusline",
        epilog='Example, in settings.json: {"statusLine": {"type": "command", "command": "ccgate statusline"}}',
    )
    def statusline_cmd() -> None:
        """Claude Code statusLine command: today's cost, this session's cost, 5h utilization (reads JSON on stdin)."""
        run_statusline()

"""`ccgate stats`, `ccgate stats blocks` and `ccgate statusline`: parse, call one report function, render.

The report functions live in ccgate.reports (the dashboard calls the same ones); rich and
genai-prices are imported only inside the commands.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from ccgate.cli._common import choices, complete_tz, print_json
from ccgate.errors import UsageError

BY_CHOICES = (
    "day",
    "week",
    "month",
    "hour",
    "model",
    "profile",
    "session",
    "account",
    "project",
    "machine",
    "billing",
    "agent",
)
SOURCE_CHOICES = ("all", "gateway", "transcripts")


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
    project: str | None = None,
    source: str = "all",
) -> None:
    from ccgate.cli._common import load
    from ccgate.reports import context, reader, render
    from ccgate.reports.stats import query, stats_report

    _check_format(as_json, as_csv)
    if by not in BY_CHOICES:
        raise UsageError(f"--by must be one of {', '.join(BY_CHOICES)}, not {by!r}")
    if source not in SOURCE_CHOICES:
        raise UsageError(f"--source must be one of {', '.join(SOURCE_CHOICES)}, not {source!r}")
    config = load()
    ctx = context.build(config, by=by, since=since, until=until, tz=tz_name)
    _import_first(config)
    conn = reader.open_log(upgrade=True)
    if by == "agent" or session is not None:
        run_agents(conn, ctx, session, as_json, as_csv)
        return
    q = query(ctx, by, profile=profile, model=model, breakdown=breakdown, project=project, source=source)
    report = stats_report(conn, ctx, q).to_dict()
    context.require_known_profile(config, profile, found=bool(report["rows"]))
    if as_json:
        print_json(report)
    elif as_csv:
        sys.stdout.write(render.stats_csv(report))
    else:
        render.print_stats(report, chart=chart, breakdown=breakdown)
        if not report["rows"]:
            _hint_empty()


def run_agents(conn: Any, ctx: Any, session: str | None, as_json: bool, as_csv: bool) -> None:
    from ccgate.reports import render
    from ccgate.reports.agents import session_trees

    trees = session_trees(conn, ctx, session=session)
    if session is not None and not trees:
        raise UsageError(f"no requests logged for session {session!r}")
    if as_json:
        print_json({"by": "agent", "range": ctx.range_label(), "sessions": trees})
    elif as_csv:
        sys.stdout.write(render.agents_csv(trees))
    else:
        render.print_agent_trees(trees)


def run_blocks(
    since: str | None, until: str | None, tz_name: str | None, profile: str | None, as_json: bool, as_csv: bool
) -> None:
    from ccgate.cli._common import load
    from ccgate.reports import context, reader, render
    from ccgate.reports.blocks import blocks_report

    _check_format(as_json, as_csv)
    config = load()
    ctx = context.build(config, by="blocks", since=since, until=until, tz=tz_name)
    _import_first(config)
    report = blocks_report(reader.open_log(upgrade=True), ctx, profile=profile)
    context.require_known_profile(config, profile, found=bool(report["accounts"]))
    if as_json:
        print_json(report)
    elif as_csv:
        sys.stdout.write(render.blocks_csv(report))
    else:
        render.print_blocks(report, ctx.tz)
        if not report["accounts"]:
            _hint_empty()


def _import_first(config: Any) -> None:
    """Claude Code's newest transcript lines first, so the report is the whole ledger (README)."""
    import os

    from ccgate.errors import CcgateError
    from ccgate.usage.roots import any_transcripts, roots_for

    try:
        if not any_transcripts(roots_for(config, os.environ)):
            return  # nothing Claude Code wrote: the importer is not even loaded
    except CcgateError:
        pass  # an odd profile: the import pass says what is wrong, and the report goes on
    from ccgate.usage.ledger import refresh_before_report

    summary = refresh_before_report(config, os.environ)
    for problem in summary.unreadable if summary else []:
        print(f"ccgate: warning: {problem}", file=sys.stderr)


def run_reconcile(since: str | None, until: str | None, tz_name: str | None, as_json: bool) -> None:
    from ccgate.cli._common import load
    from ccgate.reports import context, reader, render
    from ccgate.reports.reconcile import reconcile_report

    config = load()
    ctx = context.build(config, by="session", since=since, until=until, tz=tz_name)
    _import_first(config)
    report = reconcile_report(reader.open_log(upgrade=True), ctx)
    if as_json:
        print_json(report)
    else:
        render.print_reconcile(report, ctx.tz)


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
        project: str | None = typer.Option(None, "--project", help="Only this project (a session's directory)."),
        source: str = typer.Option(
            "all", "--source", help="Requests seen by: all, gateway (the forwarder) or transcripts (Claude Code's)."
        ),
    ) -> None:
        """Usage and cost reports (default: the last 7 days by day; --by week: 4 whole weeks; --by month: 3 months)."""
        if ctx.invoked_subcommand is not None:
            return
        run_stats(by, since, until, tz, profile, model, breakdown, as_json, as_csv, chart, session, project, source)

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

    @stats_app.command("reconcile", epilog="Example: ccgate stats reconcile --since 7d")
    def reconcile_cmd(
        since: str | None = typer.Option(None, "--since", help="Start (default: 7 days ago)."),
        until: str | None = typer.Option(None, "--until", help="End (default: now)."),
        tz: str | None = typer.Option(None, "--tz", help="IANA time zone for display (default: local)."),
        as_json: bool = typer.Option(False, "--json", help="JSON output."),
    ) -> None:
        """Per session: the forwarder's tokens beside Claude Code's transcripts, and what differs."""
        run_reconcile(since, until, tz, as_json)

    app.add_typer(stats_app, name="stats")

    @app.command(
        "statusline",
        epilog='Example, in settings.json: {"statusLine": {"type": "command", "command": "ccgate statusline"}}',
    )
    def statusline_cmd() -> None:
        """Claude Code statusLine command: today's cost, this session's cost, 5h utilization (reads JSON on stdin)."""
        run_statusline()

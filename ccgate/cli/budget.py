"""`ccgate budget set|list|rm`: a profile's spending limits (ccgate/budgets.py; figures: reports/budgets.py)."""

from __future__ import annotations

import typer

from ccgate.cli._common import complete_profile, load, print_json

budget_app = typer.Typer(help="Limit what a profile may spend per day, week or month.", no_args_is_help=True)

UsdOpt = "USD at list prices ('' removes this limit)."


def register(app: typer.Typer) -> None:
    app.add_typer(budget_app, name="budget")


@budget_app.command("set", epilog="Example: ccgate budget set api --day 5 --month 60 --warn 75")
def set_(
    profile: str = typer.Argument(..., help="Profile the budget applies to.", autocompletion=complete_profile),
    day: str | None = typer.Option(None, "--day", help=f"Daily limit: {UsdOpt}"),
    week: str | None = typer.Option(None, "--week", help=f"Weekly limit (from Monday): {UsdOpt}"),
    month: str | None = typer.Option(None, "--month", help=f"Monthly limit (from the 1st): {UsdOpt}"),
    warn: float | None = typer.Option(None, "--warn", help="Warn at this percentage of each limit (default 80)."),
    include_subscription: bool | None = typer.Option(
        None,
        "--include-subscription/--api-only",
        help="Also count subscription traffic (API-equivalent); by default only API-billed cost counts.",
    ),
) -> None:
    """Set a profile's budget; limits not given stay as they were.

    The forwarder refuses the profile's next request once a period's limit is spent (nothing goes
    upstream) and alerts at the warn level and at the limit.
    """
    from ccgate.budgets import ADJECTIVE, PERIODS, money, set_budget
    from ccgate.config import editing

    with editing() as config:
        budget = set_budget(
            config,
            profile,
            {"day": day, "week": week, "month": month},
            warn_pct=warn,
            include_subscription=include_subscription,
        )
        config.save()
    limits = ", ".join(f"${money(budget.limits[p])} {ADJECTIVE[p]}" for p in PERIODS if p in budget.limits)
    counts = "API-billed and subscription" if budget.include_subscription else "API-billed"
    print(f"budget for {profile!r}: {limits}; warns at {budget.warn_pct:g}%; counts {counts} cost")


@budget_app.command("list", epilog="Example: ccgate budget list --json")
def list_(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Each budget's limit, spent, left and period end, per day, week and month."""
    from ccgate.budgets import budgets_of
    from ccgate.reports import context, reader
    from ccgate.reports.budgets import budget_status

    config = load()
    budgets = list(budgets_of(config).values())
    ctx = context.build(config)
    rows = budget_status(reader.open_log(upgrade=True), ctx, budgets) if budgets else []
    if as_json:
        print_json(rows)
        return
    if not rows:
        print("no budgets yet; set one with `ccgate budget set PROFILE --day USD`")
        return
    _print_table(rows, ctx.tz_name)


def _print_table(rows: list[dict[str, object]], zone: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, title=f"budgets · periods in {zone}", title_justify="left")
    for col, justify in (
        ("profile", "left"),
        ("period", "left"),
        ("limit", "right"),
        ("spent", "right"),
        ("left", "right"),
        ("used", "right"),
        ("until", "left"),
        ("", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    marks = {"ok": "", "warn": "warn", "spent": "SPENT: refused"}
    for r in rows:
        table.add_row(
            str(r["profile"]),
            str(r["period"]),
            f"${r['limit_usd']:.2f}",
            f"${r['spent_usd']:.2f}" + ("+?" if r.get("unpriced_requests") else ""),
            f"${r['left_usd']:.2f}",
            f"{r['used_pct']:.0f}%",
            str(r["end"]).replace("T", " ")[:16],
            marks[str(r["state"])],
        )
    Console().print(table)


@budget_app.command("rm", epilog="Example: ccgate budget rm api")
def rm(profile: str = typer.Argument(..., help="Profile whose budget goes.", autocompletion=complete_profile)) -> None:
    """Remove a profile's budget (its requests are no longer limited)."""
    from ccgate.budgets import remove_budget
    from ccgate.config import editing

    with editing() as config:
        remove_budget(config, profile)
        config.save()
    print(f"removed the budget of {profile!r}")

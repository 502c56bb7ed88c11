"""Quoting: every value round-trips byte for byte through every real shell and runs nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccgate.errors import UsageError
from ccgate.shell import detect, normalize, powershell_quote, render
from tests.shells import REAL_SHELLS, eval_in_shell

HOSTILE = [
    "it's",
    '"double"',
    "$(touch pwned-dollar)",
    "`touch pwned-backtick`",
    "a\nb\n",
    "\n$(touch pwned-newline)\n",
    "x; touch pwned-semicolon",
    "' ; touch pwned-quote ; '",
    "\\'\\\\",
    "claude-opus-4-8[1m]",
    "*",
    "~",
    "$HOME",
    "${HOME}",
    "%PATH%",
    "ünïcødé ✓ 日本語 🦀",
    "\u2018smart\u2019 \u201cquotes\u201d",
    "tab\there\rcr\x1b[31mesc",
    "",
    " leading and trailing ",
    "--",
    "-e",
    "!!",
    "\\",
    "end\\",
]

values = st.text(
    alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=30
) | st.sampled_from(HOSTILE)


def _roundtrip(shell: str, vals: list[str], tmp: Path) -> None:
    changes: dict[str, str | None] = {f"CCGATE_T{i}": v for i, v in enumerate(vals)}
    changes["CCGATE_GONE"] = None
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp), "CCGATE_GONE": "x", "TMPDIR": str(tmp)}
    got = eval_in_shell(shell, render(shell, changes), env, cwd=str(tmp))
    for name, value in changes.items():
        assert got.get(name) == value, (shell, name, value)
    assert not [p for p in tmp.iterdir() if p.name.startswith("pwned")], "a value ran code"


@pytest.mark.parametrize("shell", REAL_SHELLS)
def test_hostile_values_round_trip(shell: str, tmp_path: Path) -> None:
    _roundtrip(shell, HOSTILE, tmp_path)


@pytest.mark.parametrize("shell", REAL_SHELLS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(vals=st.lists(values, min_size=1, max_size=8))
def test_any_value_round_trips(shell: str, vals: list[str], tmp_path: Path) -> None:
    _roundtrip(shell, vals, tmp_path)


def test_every_statement_is_one_line() -> None:
    changes = {f"V{i}": v for i, v in enumerate(HOSTILE)}
    for shell in ("bash", "zsh", "fish", "powershell"):
        assert len(render(shell, changes).splitlines()) == len(changes)


def _parse_powershell(literal: str) -> str:
    """Decode the two literal forms powershell_quote emits (PowerShell itself is not installable
    here: no registry this project can reach ships it)."""
    import re

    if literal.startswith("'"):
        body = literal[1:-1]
        return body.replace("''", "'")
    body = literal[1:-1]
    body = re.sub(r"\$\(\[char\]0x([0-9a-f]{4})\)", lambda m: chr(int(m.group(1), 16)), body)
    body = re.sub(r"\$\(\[char\]::ConvertFromUtf32\(0x([0-9a-f]+)\)\)", lambda m: chr(int(m.group(1), 16)), body)
    return re.sub(r"`(.)", r"\1", body)


@pytest.mark.parametrize("value", HOSTILE)
def test_powershell_literals_decode_back(value: str) -> None:
    literal = powershell_quote(value)
    assert _parse_powershell(literal) == value
    if literal.startswith('"'):
        # inside double quotes every $ and backtick must be escaped
        assert "$" not in literal.replace("`$", "").replace("$([char]", "")


def test_powershell_unset_and_set() -> None:
    out = render("powershell", {"A": "x", "B": None})
    assert out == "$Env:A = 'x'\nRemove-Item -ErrorAction SilentlyContinue Env:B\n"


def test_bad_variable_name_is_refused() -> None:
    with pytest.raises(UsageError):
        render("bash", {"A;rm -rf /": "x"})


@pytest.mark.parametrize(
    ("given_name", "expected"),
    [
        ("-zsh", "zsh"),
        ("/usr/bin/fish", "fish"),
        ("bash", "bash"),
        ("pwsh", "powershell"),
        ("powershell.exe", "powershell"),
        ("dash", "sh"),
    ],
)
def test_shell_names_normalize(given_name: str, expected: str) -> None:
    assert normalize(given_name) == expected


def test_unknown_shell_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        normalize("tcsh")


def test_detect_falls_back_to_shell_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ccgate.shell._parent_process_name", lambda: "python3")
    monkeypatch.setenv("SHELL", "/usr/bin/fish")
    assert detect() == "fish"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish", "powershell"])
@settings(max_examples=200, deadline=None)
@given(vals=st.lists(values, min_size=1, max_size=8))
def test_output_is_ascii_whatever_the_values(shell: str, vals: list[str]) -> None:
    assert render(shell, {f"V{i}": v for i, v in enumerate(vals)}).isascii()


# Characters whose last UTF-8 byte a BIG5 reader takes together with the next byte: rendered as
# raw UTF-8, the backslash or quote after them was swallowed and the rest of the value ran.
BIG5_SWALLOWERS = ["\u1001", "\u1024", "\u100f", "\u0221", "\u5d5c", "\u529f"]


@pytest.fixture(scope="session")
def big5_locale(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    import shutil
    import subprocess

    charmap = Path("/usr/share/i18n/charmaps/BIG5.gz")
    if not (shutil.which("localedef") and charmap.exists()):
        if os.environ.get("CI"):
            pytest.fail("localedef and the BIG5 charmap are missing; .ci/run installs Debian's locales")
        pytest.skip("needs localedef and Debian's locales package")
    root = tmp_path_factory.mktemp("locales")
    subprocess.run(["localedef", "-i", "zh_TW", "-f", "BIG5", str(root / "zh_TW.BIG5")], check=False)
    assert (root / "zh_TW.BIG5").exists()
    # PYTHONUTF8: the probe that reads the result back decodes the environment as UTF-8 bytes.
    return {"LOCPATH": str(root), "LC_ALL": "zh_TW.BIG5", "PYTHONUTF8": "1"}


@pytest.mark.parametrize("shell", [s for s in ("bash", "zsh", "fish") if s in REAL_SHELLS])
def test_a_shell_reading_big5_runs_nothing(shell: str, big5_locale: dict[str, str], tmp_path: Path) -> None:
    vals = []
    for ch in BIG5_SWALLOWERS:
        vals += [f"{ch}'; touch pwned-{ord(ch):x}; '", f"\n{ch}\\'; touch pwned-{ord(ch):x}b; '", f"{ch}\\"]
    changes: dict[str, str | None] = {f"CCGATE_T{i}": v for i, v in enumerate(vals)}
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TMPDIR": str(tmp_path), **big5_locale}
    got = eval_in_shell(shell, render(shell, changes), env, cwd=str(tmp_path))
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("pwned")], "a value ran code"
    for name, value in changes.items():
        assert got.get(name) == value, (shell, name, value)

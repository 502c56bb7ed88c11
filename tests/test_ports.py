"""Ports given on the command line: a port or a clear one-line error (issue 15, item 4)."""

from __future__ import annotations

import pytest

from tests.conftest import Runner


@pytest.mark.parametrize("port", ["0", "65536", "80000", "-5"])
@pytest.mark.parametrize("command", [("serve",), ("serve", "--detach"), ("ui", "--no-open")])
def test_a_port_out_of_range_is_refused(ccgate: Runner, command: tuple[str, ...], port: str) -> None:
    proc = ccgate(*command, "--port", port, check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == f"ccgate: --port {port} is not a port: use 1-65535\n"


@pytest.mark.parametrize("port", ["1", "65535"])
def test_the_ends_of_the_range_are_ports(ccgate: Runner, port: str) -> None:
    # Nothing listens there in the test: the port is accepted and looked for.
    proc = ccgate("ui", "--no-open", "--port", port, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"ccgate: no forwarder answering on http://127.0.0.1:{port};")


def test_a_port_out_of_range_in_config_is_refused_by_serve(ccgate: Runner, ccgate_dirs) -> None:  # type: ignore[no-untyped-def]
    cfg = ccgate_dirs / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("[settings]\nport = 99999\n")
    proc = ccgate("serve", check=False)
    assert proc.returncode == 1
    assert proc.stderr == f"ccgate: {cfg}: settings.port = 99999 is out of range: use 1-65535\n"

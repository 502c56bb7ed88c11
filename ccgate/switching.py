"""What `ccgate use` and `ccgate exec` apply: a profile's variables, sealed or not, routed or not.

The one place that turns a profile into environment changes for a shell or a process; the CLI
only renders them (`use`) or runs a command with them (`exec`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ccgate.config import Config
from ccgate.profiles import environment, get_profile, load_credentials
from ccgate.secrets import open_store


@dataclass(slots=True)
class Switch:
    changes: dict[str, str | None]  # name -> value to set, or None to unset
    notes: list[str] = field(default_factory=list)  # for the person, on stderr


def gate_url(config: Config, profile: str) -> tuple[str, str | None]:
    """The running forwarder's route for `profile`; the configured address, with a note, when none runs."""
    from ccgate.gateway.runfile import locate

    where = locate(config.settings.host, config.settings.port)
    note = None
    if where.running is None:
        note = f"no forwarder is running; pointing at the configured {where.url} (start it: ccgate serve --detach)"
    return f"{where.url}/p/{profile}", note


def profile_changes(
    config: Config, name: str, *, gate: bool, sealed: bool, purpose: str, owner_pid: int | None = None
) -> Switch:
    """The changes for profile `name`. A sealed handle with `owner_pid` dies with that process."""
    profile = get_profile(config, name)
    store = open_store(config.settings)
    sealed_id = None
    if sealed:
        from ccgate import sealed as sealing

        # A handle for a secret that is not there would only fail later, in the forwarder.
        load_credentials(config, profile, store)
        with sealing.opened() as conn:
            sealed_id, creds = sealing.sealed_credentials(
                conn, profile, purpose, config.settings.sealed_ttl_days * 86400, owner_pid
            )
    else:
        creds = load_credentials(config, profile, store)
    switch = Switch({})
    url = None
    if gate or sealed:
        url, note = gate_url(config, name)
        if note:
            switch.notes.append(note)
    switch.changes = environment(profile, creds, current=os.environ, gate_url=url, sealed_id=sealed_id)
    return switch

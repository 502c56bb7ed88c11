"""Which upstream a request goes to, and the config it is judged by.

`/p/<profile>/<path>` goes to that profile's upstream; anything else to the default profile,
else to Anthropic. The upstream URL is always the profile's origin plus the raw path, and is
checked to still point at that origin: no request can be steered to another host.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from yarl import URL

from ccgate.config import Config, load_config
from ccgate.errors import CcgateError, ProfileNotFound
from ccgate.gateway.refused import Refused
from ccgate.profiles import ANTHROPIC_URL, NAME_RE, Profile, get_profile

PREFIX = "/p/"
log = logging.getLogger("ccgate.gateway")
# How often config.toml is looked at while serving: a stat per request would cost more than the
# rest of the routing (and it releases the GIL to whichever thread wants it). A profile that is
# not found is looked up again at once, so one added while serving is served on its first request.
RECHECK_S = 1.0


@dataclass(slots=True, frozen=True)
class Route:
    profile: Profile | None
    upstream: str  # origin (and base path) without a trailing slash
    path: str  # what follows it, query included, always starting with "/"
    target: URL  # upstream + path, parsed once (and checked to stay on the upstream's origin)

    @property
    def profile_name(self) -> str | None:
        return self.profile.name if self.profile else None

    @property
    def url(self) -> str:
        return self.upstream + self.path


class ConfigCache:
    """config.toml re-read when it changes (looked at once a second at most), so profiles added
    or edited while serving are served."""

    def __init__(self, config: Config, *, recheck_s: float = RECHECK_S) -> None:
        self._config = config
        self._stamp = _stamp(config)
        self._recheck_s = recheck_s
        self._broken: tuple[int, int] | None = None  # the stamp of a broken file already reported
        self._checked = time.monotonic()
        # Per loaded config: profiles by name (or why not), and each upstream's origin.
        self.profiles: dict[str, Profile | Refused] = {}  # Refused: no such profile, or an invalid one
        self.origins: dict[str, tuple[str, str | None, int | None]] = {}

    def get(self) -> Config:
        if time.monotonic() - self._checked >= self._recheck_s:
            self.refresh()
        return self._config

    def refresh(self) -> bool:
        """Look at the file now; True if a changed config was loaded."""
        self._checked = time.monotonic()
        stamp = _stamp(self._config)
        if stamp == self._stamp:
            return False
        try:
            self._config = load_config(self._config.path)
        except CcgateError as exc:
            # A half-saved or broken hand edit: keep serving with the last good config, and say so once.
            if stamp != self._broken:
                self._broken = stamp
                log.warning("%s; still serving with the config loaded before", exc.message)
            return False
        self._stamp = stamp
        self.profiles, self.origins = {}, {}
        if self._broken is not None:
            self._broken = None
            log.warning("%s is valid again; serving with it", self._config.path)
        return True


def _stamp(config: Config) -> tuple[int, int] | None:
    try:
        st = os.stat(config.path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def split_profile(raw_path: str) -> tuple[str | None, str]:
    """('name', '/rest?query') for /p/name/rest?query; (None, raw_path) otherwise."""
    if not raw_path.startswith(PREFIX):
        return None, raw_path
    rest = raw_path[len(PREFIX) :]
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    name, tail = rest[:cut], rest[cut:]
    if not tail.startswith("/"):
        tail = "/" + tail
    return name, tail


def resolve_route(configs: ConfigCache, raw_path: str) -> Route:
    """The route for `raw_path`; a profile not found is looked for once more in a fresh read of the file."""
    try:
        return route_in(configs, raw_path)
    except Refused as refused:
        if refused.status != 404 or not configs.refresh():
            raise
    return route_in(configs, raw_path)


def route_in(configs: ConfigCache, raw_path: str) -> Route:
    if not raw_path.startswith("/"):
        # Absolute-form request targets (proxy requests) are not ccgate's business.
        raise Refused(400, "invalid_request_error", "ccgate: request target must be a path")
    config = configs.get()
    name, path = split_profile(raw_path)
    if name is None:
        name = config.settings.default_profile
    profile = _profile(configs, config, name) if name else None
    upstream = profile.upstream if profile else ANTHROPIC_URL
    return Route(profile, upstream, path, _checked(configs, upstream, path))


def _profile(configs: ConfigCache, config: Config, name: str) -> Profile:
    if name in configs.profiles:
        found = configs.profiles[name]
    else:
        found = _look_up(config, name)
        if len(configs.profiles) < 1024:  # names come from requests: never an unbounded cache
            configs.profiles[name] = found
    if isinstance(found, Refused):
        raise found
    return found


def _look_up(config: Config, name: str) -> Profile | Refused:
    if not NAME_RE.fullmatch(name):
        return Refused(404, "not_found_error", f"ccgate: no profile named {name!r}")
    try:
        return get_profile(config, name)
    except ProfileNotFound:
        return Refused(404, "not_found_error", f"ccgate: no profile named {name!r}")
    except CcgateError as exc:
        # A hand edit made the profile invalid: say why (validation messages never echo a secret).
        return Refused(400, "invalid_request_error", f"ccgate: {exc.message}")


def _checked(configs: ConfigCache, upstream: str, path: str) -> URL:
    origin = configs.origins.get(upstream)
    if origin is None:
        base = URL(upstream)
        origin = configs.origins[upstream] = (base.scheme, base.host, base.port)
    target = URL(upstream + path, encoded=True)
    if (target.scheme, target.host, target.port) != origin:
        raise Refused(400, "invalid_request_error", "ccgate: request path would leave the profile's upstream")
    return target

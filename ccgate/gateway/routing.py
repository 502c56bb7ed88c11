"""Which upstream a request goes to, and the config it is judged by.

`/p/<profile>/<path>` goes to that profile's upstream; anything else to the default profile,
else to Anthropic. The upstream URL is always the profile's origin plus the raw path, and is
checked to still point at that origin: no request can be steered to another host.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from yarl import URL

from ccgate.config import Config, load_config
from ccgate.errors import CcgateError
from ccgate.gateway.refused import Refused
from ccgate.profiles import ANTHROPIC_URL, Profile, get_profile, validate_name

PREFIX = "/p/"
# How often config.toml is looked at while serving: a stat per request would cost more than the
# rest of the routing (and it releases the GIL to whichever thread wants it). A profile that is
# not found is looked up again at once, so one added while serving is served on its first request.
RECHECK_S = 1.0


@dataclass(slots=True, frozen=True)
class Route:
    profile: Profile | None
    upstream: str  # origin (and base path) without a trailing slash
    path: str  # what follows it, query included, always starting with "/"

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
        self._checked = time.monotonic()

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
        except CcgateError:
            # A half-saved or broken hand edit: keep serving with the last good config.
            return False
        self._stamp = stamp
        return True


def seconds_setting(config: Config, key: str, default: float) -> float:
    """A timeout under [settings] that config.py does not know (yet): a positive number, else `default`."""
    value = config.data.get("settings", {}).get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 86400 * 365:
        return float(value)
    return default


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
        return route_in(configs.get(), raw_path)
    except Refused as refused:
        if refused.status != 404 or not configs.refresh():
            raise
    return route_in(configs.get(), raw_path)


def route_in(config: Config, raw_path: str) -> Route:
    if not raw_path.startswith("/"):
        # Absolute-form request targets (proxy requests) are not ccgate's business.
        raise Refused(400, "invalid_request_error", "ccgate: request target must be a path")
    name, path = split_profile(raw_path)
    profile = _profile(config, name) if name is not None else _default(config)
    upstream = profile.upstream if profile else ANTHROPIC_URL
    return Route(profile, upstream, _checked(upstream, path))


def _profile(config: Config, name: str) -> Profile:
    try:
        validate_name(name)
        return get_profile(config, name)
    except CcgateError:
        raise Refused(404, "not_found_error", f"ccgate: no profile named {name!r}") from None


def _default(config: Config) -> Profile | None:
    name = config.settings.default_profile
    return _profile(config, name) if name else None


def _checked(upstream: str, path: str) -> str:
    base = URL(upstream)
    target = URL(upstream + path, encoded=True)
    if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
        raise Refused(400, "invalid_request_error", "ccgate: request path would leave the profile's upstream")
    return path

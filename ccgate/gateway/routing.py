"""Which upstream a request goes to, and the config it is judged by.

`/p/<profile>/<path>` goes to that profile's upstream; anything else to the default profile,
else to Anthropic. The upstream URL is always the profile's origin plus the raw path, and is
checked to still point at that origin: no request can be steered to another host.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from yarl import URL

from ccgate.config import Config, load_config
from ccgate.errors import CcgateError, ProfileNotFound
from ccgate.gateway.refused import Refused
from ccgate.profiles import ANTHROPIC_URL, NAME_RE, Profile, get_profile

PREFIX = "/p/"
log = logging.getLogger("ccgate.gateway")


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
    """config.toml re-read when it changes, so profiles added while serving are served."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._stamp = _stamp(config)
        self._broken: tuple[int, int] | None = None  # the stamp of a broken file already reported

    def get(self) -> Config:
        stamp = _stamp(self._config)
        if stamp != self._stamp:
            try:
                self._config = load_config(self._config.path)
            except CcgateError as exc:
                # A half-saved or broken hand edit: keep serving with the last good config, and say so once.
                if stamp != self._broken:
                    self._broken = stamp
                    log.warning("%s; still serving with the config loaded before", exc.message)
                return self._config
            self._stamp = stamp
            if self._broken is not None:
                self._broken = None
                log.warning("%s is valid again; serving with it", self._config.path)
        return self._config


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


def resolve_route(config: Config, raw_path: str) -> Route:
    if not raw_path.startswith("/"):
        # Absolute-form request targets (proxy requests) are not ccgate's business.
        raise Refused(400, "invalid_request_error", "ccgate: request target must be a path")
    name, path = split_profile(raw_path)
    profile = _profile(config, name) if name is not None else _default(config)
    upstream = profile.upstream if profile else ANTHROPIC_URL
    return Route(profile, upstream, _checked(upstream, path))


def _profile(config: Config, name: str) -> Profile:
    if not NAME_RE.fullmatch(name):
        raise Refused(404, "not_found_error", f"ccgate: no profile named {name!r}")
    try:
        return get_profile(config, name)
    except ProfileNotFound:
        raise Refused(404, "not_found_error", f"ccgate: no profile named {name!r}") from None
    except CcgateError as exc:
        # A hand edit made the profile invalid: say why (validation messages never echo a secret).
        raise Refused(400, "invalid_request_error", f"ccgate: {exc.message}") from None


def _default(config: Config) -> Profile | None:
    name = config.settings.default_profile
    return _profile(config, name) if name else None


def _checked(upstream: str, path: str) -> str:
    base = URL(upstream)
    target = URL(upstream + path, encoded=True)
    if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
        raise Refused(400, "invalid_request_error", "ccgate: request path would leave the profile's upstream")
    return path

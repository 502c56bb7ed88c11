"""The forwarder application's typed keys, where both the gateway and the dashboard import them."""

from __future__ import annotations

from aiohttp import web

from ccgate.gateway.connections import ConnectionCap
from ccgate.gateway.proxy import Forwarder
from ccgate.gateway.routing import ConfigCache
from ccgate.usage.follow import TranscriptFollower
from ccgate.usage.sink import Sink

FORWARDER = web.AppKey("forwarder", Forwarder)
CONFIG = web.AppKey("config_cache", ConfigCache)
SINK = web.AppKey("sink", Sink)
BIND = web.AppKey("bind", tuple[str, int])
FOLLOWER = web.AppKey("transcript_follower", TranscriptFollower)
CONNECTIONS = web.AppKey("connections", ConnectionCap)

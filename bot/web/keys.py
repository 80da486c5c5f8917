"""Typed app state keys (aiohttp AppKey), shared by every route module."""

from __future__ import annotations

from aiohttp import web

from bot.ports import Plug
from bot.runtime import Runtime

RUNTIME = web.AppKey("runtime", Runtime)
PLUGS = web.AppKey("plugs", list[Plug])

"""Typed app state keys (aiohttp AppKey), shared by every route module."""

from __future__ import annotations

from aiohttp import web

from bot.app.runtime import Runtime
from bot.contract.ports import Plug

RUNTIME = web.AppKey("runtime", Runtime)
PLUGS = web.AppKey("plugs", list[Plug])

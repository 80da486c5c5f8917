"""Typed app state keys (aiohttp AppKey), shared by every route module."""

from __future__ import annotations

from aiohttp import web

from bot.app.runtime import Runtime
from bot.app.web.console_pages import ConsolePages
from bot.app.web.staff_auth import StaffAuth
from bot.contract.ports import Plug

RUNTIME = web.AppKey("runtime", Runtime)
PLUGS = web.AppKey("plugs", list[Plug])
STAFF = web.AppKey("staff", StaffAuth)
CONSOLE = web.AppKey("console", ConsolePages)

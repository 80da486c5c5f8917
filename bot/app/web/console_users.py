"""The admins' users page: accounts, their roles and tokens.

The same Accounts calls as `intake-bot users`, audited under the signed-in admin. A
generated password or a new token is shown once, on the page that answers the form, and
never again (only hashes are kept). An admin cannot disable their own account or lower
their own role: the console would lose its last admin by a slip.
"""

from __future__ import annotations

from aiohttp import web

from bot.app.web.keys import CONSOLE, RUNTIME, STAFF
from bot.app.web.staff_auth import SignedIn
from bot.contract.errors import IntakeError
from bot.staff.accounts import Accounts, Role

routes = web.RouteTableDef()


def _accounts(request: web.Request) -> Accounts:
    runtime = request.app[RUNTIME]
    return Accounts(runtime.sessions, runtime.clock)


async def _page(
    request: web.Request,
    signed_in: SignedIn,
    *,
    status: int = 200,
    problem: str = "",
    shown: str = "",
    shown_for: str = "",
) -> web.Response:
    accounts = _accounts(request)
    users = [
        {"staff": staff, "active": active, "tokens": await accounts.tokens(staff.name)}
        for staff, active in await accounts.listing()
    ]
    return request.app[CONSOLE].render(
        request,
        "users.html",
        staff=signed_in.staff,
        csrf=signed_in.csrf,
        status=status,
        users=users,
        roles=[r.label for r in Role],
        problem=problem,
        shown=shown,
        shown_for=shown_for,
        done=request.query.get("done", "")[:80],
    )


@routes.get("/console/users")
async def users_page(request: web.Request) -> web.Response:
    return await _page(request, await request.app[STAFF].page(request, Role.ADMIN))


@routes.post("/console/users/{action:add|role|active|password|token|revoke}")
async def change(request: web.Request) -> web.Response:
    signed_in, form = await request.app[STAFF].form(request, Role.ADMIN)
    action, accounts, me = request.match_info["action"], _accounts(request), signed_in.staff.name
    name = form.get("name", "").strip()[:100]
    try:
        match action:
            case "add":
                made = await accounts.add(
                    name,
                    Role.parse(form.get("role", "")),
                    password=None,
                    actor=me,
                    email=form.get("email", ""),
                )
                return await _page(request, signed_in, shown=made, shown_for=f"password of {name}")
            case "role":
                role = Role.parse(form.get("role", ""))
                if name == me and role < signed_in.staff.role:
                    raise IntakeError("you cannot lower your own role")
                await accounts.set_role(name, role, actor=me)
            case "active":
                active = form.get("active") == "1"
                if name == me and not active:
                    raise IntakeError("you cannot disable your own account")
                await accounts.set_active(name, active, actor=me)
            case "password":
                made = await accounts.set_password(name, None, actor=me)
                return await _page(request, signed_in, shown=made, shown_for=f"password of {name}")
            case "token":
                token = await accounts.issue_token(name, label=form.get("label", ""), actor=me)
                return await _page(request, signed_in, shown=token, shown_for=f"token of {name}")
            case _:
                token_id = form.get("token_id", "")
                if not token_id.isdigit() or len(token_id) > 18:
                    raise IntakeError("no such token")
                await accounts.revoke_token(int(token_id), actor=me)
    except IntakeError as exc:
        return await _page(request, signed_in, status=422, problem=str(exc))
    raise web.HTTPSeeOther(f"/console/users?done={action}+{name or 'token'}")

"""`taskflow user ...`: accounts of the web app and tokens of the JSON API (Typer sub-app).

Registered in taskflow/cli.py with ``app.add_typer(user_app, name="user")``.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.table import Table

from taskflow import cli_common as common
from taskflow.errors import UserError

user_app = typer.Typer(no_args_is_help=True,
                       help="Users of the web app: add, grant roles, passwords, API tokens.")

ROLE_HELP = ("admin (全部), coordinator (协调员: --plan 或 --unit 牵头办公室), member (单位成员: "
             "--unit), leader (领导: 查看 --unit 辖区，省略则全部), inspector (检查人员)")


def _read_password(password_stdin: bool, *, confirm: bool = True) -> str:
    """The password from stdin (scripts), TASKFLOW_NEW_PASSWORD, or an interactive prompt."""
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    env = os.environ.get("TASKFLOW_NEW_PASSWORD")
    if env:
        return env
    if not sys.stdin.isatty():
        raise UserError.single("没有终端可输入密码：请用 --password-stdin 或环境变量 "
                               "TASKFLOW_NEW_PASSWORD", field="--password-stdin")
    return typer.prompt("密码", hide_input=True, confirmation_prompt=confirm)


PasswordStdin = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the password from the first line of stdin.")]


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Sign-in name.")],
    role: Annotated[list[str], typer.Option("--role", help=ROLE_HELP)],
    name: Annotated[str | None, typer.Option("--name", help="显示名 (default: the username).")
                    ] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="Unit code or name of the role.")
                    ] = None,
    plan: Annotated[str | None, typer.Option("--plan", help="Plan code (coordinators).")
                    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a user with one or more roles (scoped by --unit / --plan)."""
    from taskflow.db import write_session
    from taskflow.services.users import add_user, grant

    with common.user_errors():
        password = _read_password(password_stdin)
        now = common._parse_now(None)
        with write_session(common._engine()) as session:
            user = add_user(session, username=username, display_name=name, password=password,
                            actor=common._actor(), now=now)
            for each in role:
                grant(session, user=user, role=each, unit=unit, plan=plan, actor=common._actor(),
                      now=now)
        common.console.print(f"已创建用户 {username}（{'、'.join(role)}）")


@user_app.command("grant")
def user_grant(
    username: str,
    role: Annotated[str, typer.Option("--role", help=ROLE_HELP)],
    unit: Annotated[str | None, typer.Option("--unit")] = None,
    plan: Annotated[str | None, typer.Option("--plan")] = None,
) -> None:
    """Give an existing user another role."""
    from taskflow.db import write_session
    from taskflow.services.users import find_user, grant

    with common.user_errors(), write_session(common._engine()) as session:
        grant(session, user=find_user(session, username), role=role, unit=unit, plan=plan,
              actor=common._actor(), now=common._parse_now(None))
    common.console.print(f"已授予 {username} 角色 {role}")


@user_app.command("passwd")
def user_passwd(username: str, password_stdin: PasswordStdin = False) -> None:
    """Set a user's password; every session of the user ends."""
    from taskflow.db import write_session
    from taskflow.services.users import find_user, set_password

    with common.user_errors():
        password = _read_password(password_stdin)
        with write_session(common._engine()) as session:
            set_password(session, user=find_user(session, username), password=password,
                         actor=common._actor(), now=common._parse_now(None))
    if username == "admin":  # the password `taskflow init` printed is no longer valid
        from taskflow.settings import get_settings

        (get_settings().data_dir / "initial_admin_password").unlink(missing_ok=True)
    common.console.print(f"已更新 {username} 的密码（其所有登录已失效）")


def _change_user(username: str, change) -> None:
    from taskflow.db import write_session
    from taskflow.services.users import find_user

    with common.user_errors(), write_session(common._engine()) as session:
        change(session, find_user(session, username), actor=common._actor(),
               now=common._parse_now(None))


@user_app.command("logout-all")
def user_logout_all(username: str) -> None:
    """Sign a user out everywhere: every session cookie issued so far stops working."""
    from taskflow.services.users import end_sessions

    _change_user(username, lambda s, user, **kw: end_sessions(s, user=user, **kw))
    common.console.print(f"已注销 {username} 在所有设备上的登录")


@user_app.command("deactivate")
def user_deactivate(username: str) -> None:
    """Disable a user: sign-in refused, sessions and API tokens stop working at once."""
    from taskflow.services.users import set_active

    _change_user(username, lambda s, user, **kw: set_active(s, user=user, active=False, **kw))
    common.console.print(f"已停用 {username}（其登录和 API 令牌立即失效）")


@user_app.command("activate")
def user_activate(username: str) -> None:
    """Enable a disabled user again (they sign in anew)."""
    from taskflow.services.users import set_active

    _change_user(username, lambda s, user, **kw: set_active(s, user=user, active=True, **kw))
    common.console.print(f"已启用 {username}")


@user_app.command("token")
def user_token(
    username: str,
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "api",
) -> None:
    """Create a JSON API token for a user; it is printed once and stored only as a hash."""
    from taskflow.db import write_session
    from taskflow.services.users import create_api_token, find_user

    with common.user_errors(), write_session(common._engine()) as session:
        token = create_api_token(session, user=find_user(session, username), name=name,
                                 actor=common._actor(), now=common._parse_now(None))
    print(token)


@user_app.command("revoke-token")
def user_revoke_token(
    username: str,
    name: Annotated[str, typer.Option("--name", help="The token's name.")] = "api",
) -> None:
    """Revoke a user's JSON API tokens of that name; requests with them get 401 at once."""
    from taskflow.db import write_session
    from taskflow.services.users import find_user, revoke_api_tokens

    with common.user_errors(), write_session(common._engine()) as session:
        count = revoke_api_tokens(session, user=find_user(session, username), name=name,
                                  actor=common._actor(), now=common._parse_now(None))
    common.console.print(f"已吊销 {username} 的 {count} 个令牌（{name}）")


@user_app.command("list")
def user_list() -> None:
    """Users and their roles."""
    from sqlalchemy import select

    from taskflow.db import read_session
    from taskflow.models import Membership, Plan, Unit, User

    with common.user_errors(), read_session(common._engine()) as session:
        table = Table(title="用户")
        for column in ("用户名", "姓名", "角色", "启用", "最近登录"):
            table.add_column(column)
        units = dict(session.execute(select(Unit.id, Unit.name)).all())
        plans = dict(session.execute(select(Plan.id, Plan.code)).all())
        roles: dict[int, list[str]] = {}
        for m in session.scalars(select(Membership)):
            scope = units.get(m.unit_id) if m.unit_id else plans.get(m.plan_id, "")
            roles.setdefault(m.user_id, []).append(f"{m.role}{'@' + scope if scope else ''}")
        for user in session.scalars(select(User).order_by(User.username)):
            table.add_row(user.username, user.display_name, "、".join(roles.get(user.id, [])),
                          "是" if user.active else "否",
                          user.last_login_at.isoformat(timespec="minutes")
                          if user.last_login_at else "—")
    common.console.print(table)

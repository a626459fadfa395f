"""`taskflow secret ...`: check the secret key against the database, or rotate it.

Registered in taskflow/cli.py with ``app.add_typer(secret_app, name="secret")``.
"""

from __future__ import annotations

import typer

from taskflow import cli_common as common

secret_app = typer.Typer(no_args_is_help=True,
                         help="The secret key that signs sessions and message links.")


@secret_app.command("check")
def secret_check() -> None:
    """Check that the secret key is there and is the one the database names (exit 2 if not)."""
    from taskflow.services.secret_key import fingerprint, verified_secret_key
    from taskflow.settings import get_settings

    with common.user_errors():
        settings = get_settings()
        key = verified_secret_key(settings, common._engine())
    where = settings.secret_key_path or "TASKFLOW_SECRET_KEY"
    common.console.print(f"密钥正常：{where}（指纹 {fingerprint(key)[:12]}…，与数据库一致）")


@secret_app.command("rotate")
def secret_rotate() -> None:
    """Replace the secret key (or adopt a new TASKFLOW_SECRET_KEY): every session ends and
    the links already sent stop working; messages sent from now on carry new links."""
    from taskflow.services.secret_key import rotate
    from taskflow.settings import get_settings

    with common.user_errors():
        settings = get_settings()
        done = rotate(settings, common._engine(), actor=common._actor(),
                      now=common._parse_now(None))
    say = common.console.print
    say(f"已启用新密钥：{done.path or 'TASKFLOW_SECRET_KEY'}（指纹 {done.fingerprint[:12]}…）")
    say(f"- 所有登录已失效：{done.users} 个用户需重新登录")
    say(f"- 已发出的消息链接 {done.links} 个失效（打开时提示已过期）；尚未发送的消息和"
        "此后的提醒、汇总会带新链接")
    if done.feeds:
        say(f"- 日历订阅 {done.feeds} 个失效：请在各单位页面重新生成订阅地址")
    say("- API 令牌不受影响")
    say("正在运行的 taskflow serve / web 会在几秒内自动改用新密钥；其他机器上的进程须使用"
        "同一密钥文件（复制过去后重启）")

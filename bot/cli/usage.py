"""Usage errors said in Chinese: an unknown command or option, a missing value, a value of the wrong kind.

Typer raises click's usage errors (`NoSuchOption`, `MissingParameter`, `BadParameter`, ...; typer's own
copy of click in newer versions, click itself in older ones) with their documented fields: the option's
name, the parameter, the close matches. The sentence is made here from those fields, the kind of error
told by its class name so that either copy works. The message of a value check (click's or its
validator's) is translated when it is one of the common kinds and kept as it is otherwise, so nothing is
ever hidden.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence

# a value check's message, and what it says in Chinese ({0}, {1}: the groups)
_VALUE_MESSAGES: tuple[tuple[re.Pattern, str], ...] = tuple((re.compile(p), zh) for p, zh in (
    (r"^Input should be greater than or equal to (\S+?)\.?$", "不能小于 {0}"),
    (r"^Input should be less than or equal to (\S+?)\.?$", "不能大于 {0}"),
    (r"^Input should be greater than (\S+?)\.?$", "要大于 {0}"),
    (r"^Input should be less than (\S+?)\.?$", "要小于 {0}"),
    (r"^Input should be a valid integer", "要写整数"),
    (r"^Input should be a valid (?:number|float)", "要写数字"),
    (r"^Input should be a valid boolean", "要写 true 或 false"),
    (r"^(.+) is not a valid integer", "{0} 不是整数"),
    (r"^(.+) is not a valid (?:float|number)", "{0} 不是数字"),
    (r"^(.+) is not in the range (.+?)\.?$", "{0} 不在 {1} 的范围内"),
    (r"^(.+) is not one of (.+?)\.?$", "{0} 不是可选的值（{1}）之一"),
    (r"^(?:File|Directory|Path) (.+) does not exist\.?$", "{0} 不存在"),
))
_EXTRA_ARGUMENTS = re.compile(r"^Got unexpected extra argument(?:s|\(s\))? \((.*)\)$")


# click's usage errors by class name, the most specific first where one is another's subclass
_KINDS = ("NoArgsIsHelpError", "NoSuchCommand", "NoSuchOption", "MissingParameter", "BadParameter", "BadOptionUsage",
          "BadArgumentUsage", "UsageError")


def is_usage_error(e: BaseException) -> bool:
    """True for click's usage errors (exit status 2: the command line is wrong)."""
    return _kind(e) is not None


def _kind(e: BaseException) -> str | None:
    """The most specific of click's usage error classes e is, by name."""
    names = [c.__name__ for c in type(e).__mro__]
    return next((n for n in names if n in _KINDS), None)


def _hint(e: BaseException) -> str:
    """How a parameter is named on the command line (--out / -o, or an argument's name)."""
    hint = getattr(e, "param_hint", None)
    param = getattr(e, "param", None)
    if hint is None and param is not None:
        if getattr(param, "param_type_name", "") == "argument":
            hint = getattr(param, "metavar", None) or str(getattr(param, "name", "") or "").upper()
        else:
            hint = getattr(param, "opts", None) or getattr(param, "name", None)
    if isinstance(hint, Sequence) and not isinstance(hint, str):
        hint = " / ".join(hint)
    return str(hint or "")


def _value_message(message: str) -> str:
    for pattern, zh in _VALUE_MESSAGES:
        m = pattern.search(message)
        if m:
            return zh.format(*m.groups())
    return message


def _maybe(possibilities: Sequence[str] | None) -> str:
    return f"（是不是想写 {'、'.join(possibilities)}？）" if possibilities else ""


def message(e: BaseException) -> str:
    """What is wrong, in one Chinese sentence."""
    kind = _kind(e)
    said = str(getattr(e, "message", "") or "")
    if kind == "NoSuchCommand" or (kind == "UsageError" and said.startswith("No such command")):
        name = getattr(e, "command_name", None) or _quoted(said)
        return f"没有 {name} 这个命令{_maybe(getattr(e, 'possibilities', None) or _quoted_all(said)[1:])}"
    if kind == "NoSuchOption":
        return f"没有 {e.option_name} 这个选项{_maybe(e.possibilities)}"
    if kind == "MissingParameter":
        param = getattr(e, "param", None)
        what = "参数" if (e.param_type or getattr(param, "param_type_name", "")) == "argument" else "选项"
        return f"缺少{what} {_hint(e)}"
    if kind == "BadParameter":
        hint = _hint(e)
        value = _value_message(said)
        return f"{hint} 的值不对：{value}" if hint else f"值不对：{value}"
    if kind == "BadOptionUsage" and "requires an argument" in said:
        return f"选项 {e.option_name} 后面要写一个值"
    if kind == "BadOptionUsage" and "does not take a value" in said:
        return f"选项 {e.option_name} 不带值：只写 {e.option_name}，不要写 {e.option_name}=…"
    m = _EXTRA_ARGUMENTS.search(said)
    if m:
        return f"多出了参数：{m.group(1) or repr('')}"
    if said.startswith("Missing command"):
        return "缺少命令"
    return e.format_message() if hasattr(e, "format_message") else str(e)


def _quoted_all(text: str) -> list[str]:
    return re.findall(r"'([^']*)'", text)


def _quoted(text: str) -> str:
    found = _quoted_all(text)
    return repr(found[0]) if found else text


def show(e: BaseException) -> None:
    """Print the usage line, where help is, and what is wrong (as click would, in Chinese) to stderr; nothing
    after a bare group command (`minqing tagger`), whose help has already been printed."""
    if _kind(e) == "NoArgsIsHelpError":
        return
    lines = []
    ctx = getattr(e, "ctx", None)
    try:
        if ctx is not None:
            usage = re.sub(r"^Usage:\s*", "用法：", ctx.get_usage())
            usage = usage.replace("[OPTIONS]", "[选项]").replace("COMMAND [ARGS]...", "命令 [参数]...")
            lines += [usage, f"运行 “{ctx.command_path} --help” 查看帮助。", ""]
        said = message(e)
    except Exception:  # a field of another shape than expected: click's own words, never a traceback
        said = str(e)
    lines.append(f"错误：{said}")
    print("\n".join(lines), file=sys.stderr)

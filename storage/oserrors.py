"""Why a file could not be read or written, in Chinese (the operating system's own words are English)."""

from __future__ import annotations

import errno

_REASONS = {
    errno.ENOENT: "文件或文件夹不存在",
    errno.EACCES: "没有权限",
    errno.EPERM: "没有权限",
    errno.EISDIR: "这是一个文件夹，不是文件",
    errno.ENOTDIR: "路径里有一段不是文件夹",
    errno.ENOSPC: "磁盘已满",
    errno.EDQUOT: "超出了磁盘配额",
    errno.EROFS: "文件系统是只读的",
    errno.EEXIST: "已经存在",
    errno.ENAMETOOLONG: "文件名太长",
    errno.EMFILE: "打开的文件太多",
    errno.EIO: "读写出错（磁盘或设备故障）",
    errno.ETXTBSY: "文件正被使用",
}


def reason(e: OSError) -> str:
    """What went wrong, in Chinese; the system's words (and the error number) when it is none of the usual."""
    known = _REASONS.get(e.errno) if e.errno is not None else None
    if known:
        return known
    said = e.strerror or str(e)
    return f"{said}（错误码 {e.errno}）" if e.errno is not None else said


# SQLite's words when the file itself is broken (pages overwritten, truncated, text no longer UTF-8)
_DAMAGED = ("database disk image is malformed", "file is not a database", "could not decode to utf-8")

DAMAGED_ADVICE = "请停下机器人，用最近一份完好的备份恢复（docs/部署.md「恢复备份」）"


def damaged(e: BaseException) -> bool:
    """Whether an error (or the driver error it wraps) says the SQLite database file is damaged."""
    seen = 0
    while e is not None and seen < 5:
        if any(words in str(e).lower() for words in _DAMAGED):
            return True
        e = getattr(e, "orig", None) or e.__cause__ or e.__context__
        seen += 1
    return False

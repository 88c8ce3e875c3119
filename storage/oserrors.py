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

"""Why a file could not be read or written, said in Chinese."""

import errno

from storage.oserrors import reason


def test_the_usual_reasons_are_chinese():
    assert reason(FileNotFoundError(errno.ENOENT, "No such file or directory")) == "文件或文件夹不存在"
    assert reason(PermissionError(errno.EACCES, "Permission denied")) == "没有权限"
    assert reason(IsADirectoryError(errno.EISDIR, "Is a directory")) == "这是一个文件夹，不是文件"
    assert reason(OSError(errno.ENOSPC, "No space left on device")) == "磁盘已满"


def test_an_unusual_one_keeps_the_systems_words_and_its_number():
    assert reason(OSError(errno.EXDEV, "Invalid cross-device link")) == \
        f"Invalid cross-device link（错误码 {errno.EXDEV}）"
    assert reason(OSError("no number")) == "no number"

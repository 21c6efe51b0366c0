"""Paths a user gives are checked before writing (issue 23 item 1): a file ordertrack replaces
whole is replaced only when it is a regular file or absent; a FIFO, a device, a socket or a
folder is refused with exit 2 and one line, before anything is written. `--out -` is stdout."""

import os
import socket
import stat
from pathlib import Path

import pytest
from freezegun import freeze_time

from ordertrack import files
from ordertrack.errors import ExitCode
from ordertrack.store import maintenance
from ordertrack.store.db import open_db
from ordertrack.timeutil import utcnow

NOW = "2026-12-07T12:00:00Z"


def report_to(cli, target: Path | str):
    with freeze_time(NOW):
        return cli("report", "--day", "2026-12-07", "--out", str(target))


def assert_refused(result, target: Path, kind: str) -> None:
    assert result.code == ExitCode.USAGE, result
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    assert f"cannot write {target}: it is {kind}" in result.err
    assert result.out == ""
    assert [p.name for p in target.parent.iterdir() if p.name.endswith(".partial")] == []


def test_report_out_refuses_a_fifo_and_leaves_it_a_fifo(cli, fresh_db, tmp_path):
    fifo = tmp_path / "pipe.html"
    os.mkfifo(fifo)
    result = report_to(cli, fifo)  # opening a FIFO to write would block: it is never opened
    assert_refused(result, fifo, "a FIFO")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_report_out_refuses_a_socket(cli, fresh_db, tmp_path):
    path = tmp_path / "s.html"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        result = report_to(cli, path)
    assert_refused(result, path, "a socket")
    assert stat.S_ISSOCK(path.lstat().st_mode)


def test_report_out_refuses_a_folder_and_leaves_no_partial_file_beside_it(cli, fresh_db, tmp_path):
    folder = tmp_path / "reports.html"
    folder.mkdir()
    result = report_to(cli, folder)
    assert_refused(result, folder, "a folder")
    assert folder.is_dir() and list(folder.iterdir()) == []


def test_report_out_refuses_a_link_to_a_device(cli, fresh_db, tmp_path):
    link = tmp_path / "null.html"
    link.symlink_to("/dev/null")
    result = report_to(cli, link)
    assert_refused(result, link, "a character device")
    assert link.is_symlink() and stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_report_out_dev_null_is_refused_before_anything_is_written(cli, fresh_db, monkeypatch):
    """The real /dev/null, guarded: any open or rename under /dev fails the test instead of
    touching the host's device (old code would have made /dev/.null.partial, then renamed)."""
    real_open, real_replace = os.open, os.replace

    def guarded_open(path, *args, **kwargs):
        assert not str(path).startswith("/dev/"), f"opened {path}"
        return real_open(path, *args, **kwargs)

    def guarded_replace(src, dst, *args, **kwargs):
        assert not str(dst).startswith("/dev/"), f"renamed over {dst}"
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_open)
    monkeypatch.setattr(os, "replace", guarded_replace)
    result = report_to(cli, "/dev/null")
    monkeypatch.undo()
    assert result.code == ExitCode.USAGE, result
    assert "cannot write /dev/null: it is a character device" in result.err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not Path("/dev/.null.partial").exists()


def test_a_regular_file_is_replaced_owner_only_and_dash_is_stdout(cli, fresh_db, tmp_path):
    target = tmp_path / "r.html"
    target.write_text("old")
    target.chmod(0o644)
    result = report_to(cli, target)
    assert result.code == 0, result.err
    assert target.read_text().startswith("<!DOCTYPE html>")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    to_stdout = report_to(cli, "-")
    assert to_stdout.code == 0 and to_stdout.out.startswith("<!DOCTYPE html>")
    assert not (tmp_path / "-").exists()


def test_eod_backup_onto_a_fifo_is_refused_and_the_fifo_stays(fresh_db, tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir(mode=0o700)
    with freeze_time(NOW):
        target = folder / "ordertrack-20261207.db"
        os.mkfifo(target)
        db = open_db(fresh_db)
        try:
            with pytest.raises(files.NotRegularFile, match="FIFO"):
                maintenance.backup(db, fresh_db, utcnow(), keep=3)
        finally:
            db.close()
    assert stat.S_ISFIFO(target.lstat().st_mode)


def test_replace_whole_writes_nothing_when_refused(tmp_path):
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    with pytest.raises(files.NotRegularFile):
        files.replace_whole(fifo, "data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]
    absent = files.replace_whole(tmp_path / "new", b"bytes")
    assert absent.read_bytes() == b"bytes"

"""Evidence files: size and type limits, names that try to be paths, downloads in scope."""

from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import func, select

from taskflow.db import read_session
from taskflow.models import Attachment, ProgressReport

from .helpers import assert_download, attachments, denials, start, unit_id

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n%%EOF\n"


def _docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


@pytest.fixture
def small_uploads(app):
    app.state.settings = app.state.settings.model_copy(update={"upload_max_bytes": 4096})
    return app.state.settings


def _stored_files(settings) -> list:
    directory = settings.data_dir / "attachments"
    return sorted(directory.iterdir()) if directory.exists() else []


def _report(client, engine, tid, files):
    return client.submit(f"/tasks/{tid}", f"/tasks/{tid}/act", {
        "action": "report", "unit_id": str(unit_id(engine, "t.lyj")), "percent": "10"},
        files=files)


def _nothing_stored(engine, settings):
    assert attachments(engine) == 0 and _stored_files(settings) == []
    with read_session(engine) as session:
        assert session.scalar(select(func.count()).select_from(ProgressReport)) == 0


def test_allowed_files_are_stored_under_random_names_and_downloaded_as_attachments(
        signed_in, engine, small_uploads):
    tid = start(engine, "2")
    lyj = signed_in("lyj")
    response = _report(lyj, engine, tid, [
        ("files", ("现场照片 1.png", PNG, "image/png")),
        ("files", ("验收报告.pdf", PDF, "application/pdf")),
        ("files", ("花名册.docx", _docx(), "application/octet-stream"))])
    assert response.status_code == 303, response.text
    with read_session(engine) as session:
        rows = list(session.scalars(select(Attachment).order_by(Attachment.id)))
    assert [r.filename for r in rows] == ["现场照片 1.png", "验收报告.pdf", "花名册.docx"]
    assert [r.content_type for r in rows][:2] == ["image/png", "application/pdf"]
    stored = _stored_files(small_uploads)
    assert sorted(p.name for p in stored) == sorted(r.stored_name for r in rows)
    assert all(len(r.stored_name) == 32 and r.report_id is not None for r in rows)
    assert_download(lyj.get(f"/attachments/{rows[1].id}"), content=PDF,
                    content_type="application/pdf", filename="验收报告.pdf")
    # A coordinator of the plan and a leader see the task, so they may download too.
    assert signed_in("coord").get(f"/attachments/{rows[0].id}").status_code == 200
    assert signed_in("leader").get(f"/attachments/{rows[0].id}").status_code == 200


def test_oversized_file_is_refused_and_nothing_is_stored(signed_in, engine, small_uploads):
    tid = start(engine, "2")
    response = _report(signed_in("lyj"), engine, tid,
                       [("files", ("大文件.pdf", PDF + b"0" * 5000, "application/pdf"))])
    assert response.status_code == 422 and "超过大小限制" in response.text
    _nothing_stored(engine, small_uploads)


def test_a_body_far_over_the_limit_is_refused_before_parsing(signed_in, engine,
                                                             small_uploads):
    tid = start(engine, "2")
    response = _report(signed_in("lyj"), engine, tid,
                       [("files", ("huge.pdf", PDF + b"0" * 2_000_000, "application/pdf"))])
    assert response.status_code == 413
    _nothing_stored(engine, small_uploads)


@pytest.mark.parametrize(("name", "data", "words"), [
    ("setup.exe", b"MZ\x90\x00", "类型不允许"),
    ("page.html", b"<html><script>alert(1)</script>", "类型不允许"),
    ("noextension", b"hello", "类型不允许"),
    ("fake.pdf", b"<html>not a pdf</html>", "内容与扩展名 .pdf 不符"),
    ("fake.png", PDF, "内容与扩展名 .png 不符"),
    ("fake.docx", b"PK\x03\x04" + b"\x00" * 40, "内容与扩展名 .docx 不符"),
    ("binary.txt", b"\x00\x01\x02", "内容与扩展名 .txt 不符"),
])
def test_wrong_types_are_refused_and_nothing_is_stored(signed_in, engine, small_uploads,
                                                       name, data, words):
    tid = start(engine, "2")
    response = _report(signed_in("lyj"), engine, tid,
                       [("files", (name, data, "application/octet-stream"))])
    assert response.status_code == 422 and words in response.text, response.text
    _nothing_stored(engine, small_uploads)


@pytest.mark.parametrize("name", ["../../etc/passwd.txt", "a/b.txt", "..\\..\\win.ini.txt",
                                  "..", "C:boot.txt", ".hidden.txt"])
def test_path_traversing_names_are_refused_and_nothing_is_stored(signed_in, engine,
                                                                small_uploads, name):
    tid = start(engine, "2")
    response = _report(signed_in("lyj"), engine, tid,
                       [("files", (name, b"plain text", "text/plain"))])
    assert response.status_code == 422 and "文件名" in response.text, response.text
    _nothing_stored(engine, small_uploads)
    assert not (small_uploads.data_dir.parent / "etc").exists()


def test_control_characters_are_removed_and_paths_refused_by_the_name_check():
    from taskflow.errors import UserError
    from taskflow.web.uploads import clean_filename

    assert clean_filename("报告\r\n\x00\u202e.txt") == "报告.txt"
    # (The form parser already reduces an old browser's "C:\\dir\\x" to "x"; the check
    # refuses such names on its own too.)
    for name in ("C:\\dir\\boot.txt", "/etc/passwd", "a/../b.txt", "\x00"):
        with pytest.raises(UserError):
            clean_filename(name)


def test_one_bad_file_refuses_the_whole_report(signed_in, engine, small_uploads):
    tid = start(engine, "2")
    response = _report(signed_in("lyj"), engine, tid, [
        ("files", ("ok.png", PNG, "image/png")), ("files", ("bad.exe", b"MZ", "x/y"))])
    assert response.status_code == 422
    _nothing_stored(engine, small_uploads)


def test_another_units_member_cannot_download(signed_in, engine, small_uploads):
    tid = start(engine, "2")
    assert _report(signed_in("lyj"), engine, tid,
                   [("files", ("a.txt", "内容".encode(), "text/plain"))]).status_code == 303
    with read_session(engine) as session:
        attachment = session.scalars(select(Attachment)).one()
    before = denials(engine, "attachment")
    response = signed_in("town1").get(f"/attachments/{attachment.id}")
    assert response.status_code == 404 and "内容" not in response.text
    assert denials(engine, "attachment") == before + 1
    assert signed_in("town1").get("/attachments/99999").status_code == 404

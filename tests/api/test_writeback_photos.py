"""Photos written back: JPEG and PNG of a person the grant covers, checked by content, stored
without their metadata, at most 5 MB, queued like every write and safe to retry."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from authserver.domain.photos import MAX_PHOTO_BYTES
from authserver.extensions import db
from authserver.models.mis import Contact, Photo, Staff
from authserver.models.writebacks import WritebackItem
from tests.api.test_writeback import Ids, WritebackTokens


@pytest.fixture
def school(seeded_school):
    return seeded_school


@pytest.fixture
def tokens(app, client, make_app, school, school_admin, school_data) -> WritebackTokens:
    return WritebackTokens(app, client, make_app, school, school_admin)


@pytest.fixture
def ids(app, school, school_data) -> Ids:
    return Ids(app, school.id)


def jpeg_with_exif() -> bytes:
    image = Image.new("RGB", (64, 80), (200, 120, 40))
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"  # Make
    gps = exif.get_ifd(0x8825)  # GPSInfo: where it was taken
    gps[1], gps[2] = "N", (51.0, 30.0, 0.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def png_with_metadata() -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "Taken at 1 High Street")
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    out = io.BytesIO()
    Image.new("RGBA", (50, 50), (0, 0, 255, 128)).save(
        out, format="PNG", pnginfo=info, exif=exif.tobytes()
    )
    return out.getvalue()


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (32, 32)).save(out, format="GIF")
    return out.getvalue()


def upload(tokens, data: bytes, *, filename="photo.jpg", key=None, token=None, **fields):
    headers = {"Authorization": f"Bearer {token or tokens.token('WritebackPhotos')}"}
    if key:
        headers["Idempotency-Key"] = key
    return tokens.client.post(
        "/api/v1/photos",
        data={"photo": (io.BytesIO(data), filename), **fields},
        content_type="multipart/form-data",
        headers=headers,
    )


def stored(app, record_id: int) -> Image.Image:
    with app.app_context():
        row = db.session.get(Photo, record_id)
        data = base64.b64decode(row.content)
    return Image.open(io.BytesIO(data))


def test_a_jpeg_is_kept_without_its_exif_and_queued(app, tokens, ids) -> None:
    original = Image.open(io.BytesIO(jpeg_with_exif()))
    assert original.getexif(), "the test image carries EXIF"
    response = upload(tokens, jpeg_with_exif(), person_type="student", person_id=ids.student)
    assert response.status_code == 201, response.get_json()
    [document] = response.get_json()["data"]
    assert document["content_type"] == "image/jpeg"
    assert document["writeback"]["state"] == "queued"
    kept = stored(app, document["id"])
    assert kept.format == "JPEG"
    assert kept.size == (64, 80)
    assert not kept.getexif()
    assert "exif" not in kept.info
    with app.app_context():
        item = db.session.scalar(select(WritebackItem).where(WritebackItem.entity == "photo"))
        assert item.values["content"] == db.session.get(Photo, document["id"]).content


def test_a_png_sent_as_the_raw_body_is_kept_without_its_metadata(app, tokens, ids) -> None:
    with app.app_context():
        staff = db.session.scalar(select(Staff.id).where(Staff.school_id == tokens.school.id))
    response = tokens.client.post(
        f"/api/v1/photos?person_type=staff&person_id={staff}",
        data=png_with_metadata(),
        content_type="image/png",
        headers={"Authorization": f"Bearer {tokens.token('WritebackPhotos')}"},
    )
    assert response.status_code == 201, response.get_json()
    kept = stored(app, response.get_json()["data"][0]["id"])
    assert kept.format == "PNG"
    assert not kept.getexif()
    assert "Comment" not in kept.info
    assert "exif" not in kept.info


def test_a_second_photo_replaces_the_persons_first(app, tokens, ids) -> None:
    first = upload(tokens, jpeg_with_exif(), person_type="student", person_id=ids.students[3])
    again = upload(tokens, png_with_metadata(), person_type="student", person_id=ids.students[3])
    assert again.get_json()["data"][0]["id"] == first.get_json()["data"][0]["id"]
    assert again.get_json()["data"][0]["writeback"]["op"] == "update"


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (gif(), "photo.gif"),
        (b"This is not a photo at all, only text.\n" * 20, "photo.jpg"),
        (jpeg_with_exif()[:200], "truncated.jpg"),
    ],
)
def test_anything_but_a_whole_jpeg_or_png_is_422(app, tokens, ids, data, filename) -> None:
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(Photo))
    response = upload(tokens, data, filename=filename, person_type="student", person_id=ids.student)
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "photo"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Photo)) == before


def test_a_photo_over_5_mb_is_413(tokens, ids) -> None:
    too_big = jpeg_with_exif() + b"\0" * (MAX_PHOTO_BYTES + 1 - len(jpeg_with_exif()))
    assert len(too_big) == MAX_PHOTO_BYTES + 1
    # The multipart body built by hand: the test client would spool one this big to a file.
    boundary = "photo-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="person_type"\r\n\r\nstudent\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="a.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + too_big
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = tokens.client.post(
        f"/api/v1/photos?person_id={ids.student}",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers={"Authorization": f"Bearer {tokens.token('WritebackPhotos')}"},
    )
    assert response.status_code == 413
    raw = tokens.client.post(
        f"/api/v1/photos?person_type=student&person_id={ids.student}",
        data=too_big,
        content_type="image/jpeg",
        headers={"Authorization": f"Bearer {tokens.token('WritebackPhotos')}"},
    )
    assert raw.status_code == 413


def test_tiny_or_huge_dimensions_are_refused(tokens, ids) -> None:
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, format="PNG")
    response = upload(tokens, out.getvalue(), person_type="student", person_id=ids.student)
    assert response.status_code == 422
    assert "pixels" in response.get_json()["errors"][0]["message"]


def test_a_person_outside_the_grant_or_unknown_is_422(app, tokens, ids, make_school) -> None:
    for fields in (
        {"person_type": "student", "person_id": 99_999_999},
        {"person_type": "pet", "person_id": ids.student},
        {"person_type": "contact", "person_id": "abc"},
    ):
        response = upload(tokens, jpeg_with_exif(), **fields)
        assert response.status_code == 422, fields
    with app.app_context():
        contact = db.session.scalar(select(Contact.id).where(Contact.school_id == tokens.school.id))
    ok = upload(tokens, jpeg_with_exif(), person_type="contact", person_id=contact)
    assert ok.status_code == 201, ok.get_json()


def test_photos_need_writeback_photos(tokens, ids) -> None:
    response = upload(
        tokens,
        jpeg_with_exif(),
        token=tokens.token("WritebackConduct"),
        person_type="student",
        person_id=ids.student,
    )
    assert response.status_code == 403
    assert response.get_json()["scope"] == "WritebackPhotos"


def test_a_retried_upload_with_the_same_key_is_not_written_again(app, tokens, ids) -> None:
    first = upload(
        tokens, jpeg_with_exif(), key="photo-1", person_type="student", person_id=ids.students[5]
    )
    with app.app_context():
        queued = db.session.scalar(select(func.count()).select_from(WritebackItem))
    again = upload(
        tokens, jpeg_with_exif(), key="photo-1", person_type="student", person_id=ids.students[5]
    )
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WritebackItem)) == queued
    other = upload(
        tokens, png_with_metadata(), key="photo-1", person_type="student", person_id=ids.students[5]
    )
    assert other.status_code == 422


def test_a_photo_the_application_wrote_can_be_withdrawn(tokens, ids) -> None:
    record = upload(tokens, jpeg_with_exif(), person_type="student", person_id=ids.students[6])
    record_id = record.get_json()["data"][0]["id"]
    response = tokens.client.delete(
        f"/api/v1/photos/{record_id}",
        headers={"Authorization": f"Bearer {tokens.token('WritebackPhotos')}"},
    )
    assert response.status_code == 202

"""File uploads: an HTML form, and an endpoint that streams each upload through a hash.

Run it any of these ways, then open http://127.0.0.1:8000/::

    granian --interface asgi examples.upload_app:app
    uvicorn examples.upload_app:app
    hypercorn examples.upload_app:app

``POST /upload`` parses the multipart body while it arrives (files past 1 MiB spill to a temporary
file, written off the event loop) and answers with each field and each file's size and SHA-256.
The limits are raised from the defaults to allow up to 5 files of 32 MiB each.
"""

from __future__ import annotations

import hashlib
from typing import Any

from armature import App, HTMLResponse, Request
from armature.forms import UploadFile, parse_form
from armature.limits import Limits

MIB = 1024 * 1024
LIMITS = Limits(max_body_size=64 * MIB, max_part_size=32 * MIB, max_files=5)

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Upload</title></head>
<body>
  <h1>Upload files</h1>
  <form action="/upload" method="post" enctype="multipart/form-data">
    <p><label>Title <input name="title"></label></p>
    <p><input type="file" name="files" multiple></p>
    <p><button>Upload</button></p>
  </form>
</body>
</html>
"""

app = App()


@app.get("/")
async def index() -> HTMLResponse:
    """The upload form."""
    return HTMLResponse(PAGE)


async def digest(upload: UploadFile) -> dict[str, Any]:
    """Hash an upload in 1 MiB reads (never the whole file in memory at once)."""
    sha = hashlib.sha256()
    while chunk := await upload.read(MIB):
        sha.update(chunk)
    return {
        "filename": upload.filename,
        "content_type": upload.content_type,
        "size": upload.size,
        "sha256": sha.hexdigest(),
    }


@app.post("/upload")
async def receive_upload(request: Request) -> dict[str, Any]:
    """Parse the form and describe what arrived."""
    form = await parse_form(request.scope, request.receive, LIMITS)
    async with form:  # NOTE: closing the form deletes the temporary files
        fields = {name: value for name, value in form.multi_items() if isinstance(value, str)}
        files = [await digest(upload) for _, upload in form.files()]
    return {"fields": fields, "files": files}

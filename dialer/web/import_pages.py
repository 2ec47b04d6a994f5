"""Uploading records: the file, a preview of the column mapping and first rows, a changed
mapping, the import with its progress, and the rejects file. Also the do-not-call list."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from dialer.domain import phones
from dialer.domain.imports import REJECT_REASONS
from dialer.domain.users import Permission
from dialer.errors import DialerError, NotFound
from dialer.importer import ImportOptions
from dialer.importer.dnc import read_dnc
from dialer.importer.inspect import FIELDS, inspect_file
from dialer.store.repository import GLOBAL_SCOPE, campaign_scope
from dialer.web import jobs as jobs_
from dialer.web import security
from dialer.web.base import error_page, flash, form_value, guarded, redirect, render, state_of
from dialer.web.uploads import UploadError, receive_upload, upload_dir

MANAGE = Permission.MANAGE_CAMPAIGNS
FIELD_LABELS = {
    "recordHandle": "Record handle",
    "phoneNumber": "Phone number",
    "outboundCallerId": "Outbound caller ID",
    "timezone": "Time zone",
    "country": "Country",
    "phoneCode": "Calling code",
}
DELIMITERS = {"": "detect", ",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
ENCODINGS = ("", "utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16")


def _jobs(request: Request) -> jobs_.ImportJobs:
    web = state_of(request)
    found: jobs_.ImportJobs = web.extras.setdefault("jobs", jobs_.ImportJobs(web.ctx, rejects_dir=web.rejects))
    return found


def upload_page(request: Request, form: FormData | None) -> Response:
    ctx = state_of(request).ctx
    c = ctx.store.get_campaign(request.path_params["name"])
    return render(request, "import_upload.html", c=c, imports=ctx.store.imports(c.id, limit=10))


async def receive(request: Request, form: FormData | None) -> Response:
    web = state_of(request)
    name = request.path_params["name"]
    upload = await receive_upload(
        request,
        web.uploads,
        limit=web.upload_limit,
        check_fields=lambda fields: security.csrf_valid(request, fields.get(security.CSRF_FIELD)),
    )
    return redirect(f"/campaigns/{name}/import/{upload.token}")


def _uploaded_file(request: Request) -> tuple[Path, Path]:
    folder = upload_dir(state_of(request).uploads, request.path_params["token"])
    files = [p for p in folder.iterdir() if p.is_file()]
    if not files:
        raise UploadError("this upload has no file any more; upload it again")
    return folder, files[0]


def _options(values: FormData | dict[str, str] | None, *, with_mapping: bool) -> ImportOptions:
    def get(key: str) -> str:
        if values is None:
            return ""
        value = values.get(key, "")
        return value.strip() if isinstance(value, str) else ""

    mapping: dict[str, str] = {}
    if with_mapping:
        mapping = {f: get(f"map_{f}") for f in FIELDS}
    delimiter = values.get("delimiter", "") if values is not None else ""
    on_duplicate = "update" if get("on_duplicate") == "update" else "skip"
    return ImportOptions(
        mapping=mapping,
        region=get("region") or None,
        encoding=get("encoding") or None,
        delimiter=delimiter if isinstance(delimiter, str) and delimiter in DELIMITERS and delimiter else None,
        sheet=get("sheet") or None,
        header=get("no_header") != "on",
        on_duplicate=on_duplicate,  # type: ignore[arg-type]
    )


def preview_page(request: Request, form: FormData | None) -> Response:
    ctx = state_of(request).ctx
    c = ctx.store.get_campaign(request.path_params["name"])
    _, path = _uploaded_file(request)
    params = dict(request.query_params)
    changed = any(k.startswith("map_") for k in params)
    options = _options(params, with_mapping=changed)
    preview = inspect_file(c, path, options)
    running = _jobs(request).running(c.name)
    return render(
        request,
        "import_preview.html",
        c=c,
        token=request.path_params["token"],
        filename=path.name,
        size=path.stat().st_size,
        preview=preview,
        options=options,
        params=params,
        fields=FIELDS,
        labels=FIELD_LABELS,
        delimiters=DELIMITERS,
        encodings=ENCODINGS,
        reasons=REJECT_REASONS,
        running=running,
    )


def run_import(request: Request, form: FormData | None) -> Response:
    ctx = state_of(request).ctx
    c = ctx.store.get_campaign(request.path_params["name"])
    folder, path = _uploaded_file(request)
    options = _options(form, with_mapping=True)
    job = _jobs(request).start(c.name, path, options, upload_dir=folder, started_by=request.state.user.name)
    return redirect(f"/imports/jobs/{job.id}")


def _job(request: Request) -> jobs_.ImportJob:
    job = _jobs(request).get(request.path_params["job"])
    if job is None:
        raise NotFound("no such import (imports are listed on the campaign's page once they finish)")
    return job


def job_page(request: Request, form: FormData | None) -> Response:
    return render(request, "import_job.html", job=_job(request), reasons=REJECT_REASONS)


def job_progress(request: Request, form: FormData | None) -> Response:
    return render(request, "_import_progress.html", job=_job(request), reasons=REJECT_REASONS)


def rejects_download(request: Request, form: FormData | None) -> Response:
    web = state_of(request)
    import_id = request.path_params["import_id"]
    path = jobs_.rejects_file(web.rejects, import_id)
    name = f"import-{import_id}-rejects.csv"
    if path.is_file():
        return FileResponse(path, media_type="text/csv; charset=utf-8", filename=name)
    # Imported elsewhere (`dialer import`) or the file was removed: the store keeps every reject.
    rejects = web.ctx.store.import_rejects(import_id)
    if not rejects:
        raise NotFound(f"import #{import_id} has no rejected rows (or does not exist)")
    width = max(len(r.raw) for r in rejects)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["line", "reason", "message", *(f"column {i}" for i in range(1, width + 1))])
    writer.writerows([r.line, r.reason, r.message, *r.raw] for r in rejects)
    return Response(
        ("\ufeff" + out.getvalue()).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


# ------------------------------------------------------------------------ DNC
def dnc_page(request: Request, form: FormData | None, **values: Any) -> Response:
    ctx = state_of(request).ctx
    return render(
        request,
        "dnc.html",
        total=ctx.store.dnc_count(),
        campaigns=ctx.store.list_campaigns(),
        **values,
    )


def _scope(request: Request, name: str) -> str:
    if not name:
        return GLOBAL_SCOPE
    return campaign_scope(state_of(request).ctx.store.get_campaign(name).id)


def dnc_add(request: Request, form: FormData | None) -> Response:
    ctx = state_of(request).ctx
    number, region = form_value(form, "number"), (form_value(form, "region") or "US").upper()
    try:
        e164 = phones.normalise(number, region).e164
    except phones.PhoneError as exc:
        raise DialerError(f"{number!r}: {exc}. Give the number in E.164 (+1…) or choose its region.") from exc
    scope_name = form_value(form, "campaign")
    added = ctx.store.add_dnc(
        [e164],
        scope=_scope(request, scope_name),
        source="web",
        note=form_value(form, "note") or f"added by {request.state.user.name}",
        now=ctx.clock.now(),
    )
    where = f"campaign {scope_name}" if scope_name else "every campaign"
    flash(request, f"{e164} added to the do-not-call list ({where})." if added else f"{e164} was already listed.")
    return redirect("/dnc")


def dnc_check(request: Request, form: FormData | None) -> Response:
    ctx = state_of(request).ctx
    number, region = request.query_params.get("number", ""), request.query_params.get("region", "US").upper()
    try:
        e164 = phones.normalise(number, region).e164
    except phones.PhoneError as exc:
        raise DialerError(f"{number!r}: {exc}") from exc
    listed = bool(ctx.store.dnc_hits([e164]))
    return dnc_page(request, form, checked=e164, listed=listed)


def dnc_remove(request: Request, form: FormData | None) -> Response:
    ctx = state_of(request).ctx
    number, region = form_value(form, "number"), (form_value(form, "region") or "US").upper()
    try:
        e164 = phones.normalise(number, region).e164
    except phones.PhoneError as exc:
        raise DialerError(f"{number!r}: {exc}") from exc
    removed = ctx.store.remove_dnc([e164], scope=_scope(request, form_value(form, "campaign")))
    flash(request, f"{e164} removed from the do-not-call list." if removed else f"{e164} was not on that list.")
    return redirect("/dnc")


async def dnc_upload(request: Request, form: FormData | None) -> Response:
    web = state_of(request)
    upload = await receive_upload(
        request,
        web.uploads,
        limit=web.upload_limit,
        check_fields=lambda fields: security.csrf_valid(request, fields.get(security.CSRF_FIELD)),
    )
    from anyio import to_thread

    def apply() -> Response:
        assert upload.path is not None
        try:
            region = (upload.fields.get("region") or "US").strip().upper()
            column = (upload.fields.get("column") or "").strip() or None
            result = read_dnc(upload.path, region=region, column=column)
            scope_name = (upload.fields.get("campaign") or "").strip()
            added = web.ctx.store.add_dnc(
                result.numbers,
                scope=_scope(request, scope_name),
                source="web-import",
                note=upload.filename,
                now=web.ctx.clock.now(),
            )
        finally:
            shutil.rmtree(upload.path.parent, ignore_errors=True)
        return dnc_page(request, None, result=result, added=added, filename=upload.filename)

    try:
        return await to_thread.run_sync(apply)
    except DialerError as exc:
        return error_page(request, 400, "That file cannot be read", f"{exc.message} Nothing was added.")


def routes() -> list[object]:
    return [
        guarded("/campaigns/{name}/import", upload_page, permission=MANAGE),
        guarded(
            "/campaigns/{name}/import", receive, permission=MANAGE, methods=("POST",), asynchronous=True, form=False
        ),
        guarded("/campaigns/{name}/import/{token}", preview_page, permission=MANAGE),
        guarded("/campaigns/{name}/import/{token}/run", run_import, permission=MANAGE, methods=("POST",)),
        guarded("/imports/jobs/{job}", job_page, permission=MANAGE),
        guarded("/imports/jobs/{job}/progress", job_progress, permission=MANAGE),
        guarded("/imports/{import_id:int}/rejects.csv", rejects_download, permission=MANAGE),
        guarded("/dnc", dnc_page, permission=MANAGE),
        guarded("/dnc/check", dnc_check, permission=MANAGE),
        guarded("/dnc/add", dnc_add, permission=MANAGE, methods=("POST",)),
        guarded("/dnc/remove", dnc_remove, permission=MANAGE, methods=("POST",)),
        guarded("/dnc/upload", dnc_upload, permission=MANAGE, methods=("POST",), asynchronous=True, form=False),
    ]

"""Imports started from the web run on a thread of their own, with progress to show.

Each job calls :func:`dialer.importer.import_file` exactly as `dialer import` does (one
transaction: a file that fails changes nothing), writes its rejects file beside the other
web imports' and deletes the upload when it is done.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from dialer.context import Context
from dialer.errors import DialerError
from dialer.importer import ImportOptions, ImportProgress, ImportReport, import_file

log = logging.getLogger(__name__)

#: Finished jobs kept in memory for their pages.
KEEP_JOBS = 200


@dataclass
class ImportJob:
    id: str
    campaign: str
    filename: str
    started_at: datetime
    started_by: str
    state: str = "running"
    """``running``, ``done`` or ``failed``."""
    done: int = 0
    total: int = 0
    rows: int = 0
    report: ImportReport | None = None
    error: str | None = None
    finished_at: datetime | None = None
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def percent(self) -> float:
        if self.state != "running":
            return 100.0
        return 100.0 * self.done / self.total if self.total else 0.0


def rejects_file(folder: Path, import_id: int) -> Path:
    return folder / f"import-{import_id}-rejects.csv"


class ImportJobs:
    def __init__(self, ctx: Context, *, rejects_dir: Path) -> None:
        self.ctx = ctx
        self.rejects_dir = rejects_dir
        self._jobs: dict[str, ImportJob] = {}
        self._lock = threading.Lock()

    def get(self, job_id: str) -> ImportJob | None:
        return self._jobs.get(job_id)

    def running(self, campaign: str) -> ImportJob | None:
        return next((j for j in self._jobs.values() if j.campaign == campaign and j.state == "running"), None)

    def start(
        self, campaign: str, path: Path, options: ImportOptions, *, upload_dir: Path, started_by: str
    ) -> ImportJob:
        with self._lock:
            busy = self.running(campaign)
            if busy is not None:
                raise DialerError(
                    f"an import into {campaign} is already running ({busy.filename}, started by {busy.started_by}); "
                    "wait for it to finish"
                )
            job = ImportJob(
                id=secrets.token_urlsafe(12),
                campaign=campaign,
                filename=path.name,
                started_at=self.ctx.clock.now(),
                started_by=started_by,
            )
            self._jobs[job.id] = job
            self._forget_old()
        self.rejects_dir.mkdir(parents=True, exist_ok=True)
        partial = self.rejects_dir / f".job-{job.id}-rejects.csv"
        options = replace(options, rejects_path=partial)
        job._thread = threading.Thread(
            target=self._run, args=(job, path, options, upload_dir), name=f"import-{job.id}", daemon=True
        )
        job._thread.start()
        return job

    def wait(self, job: ImportJob, timeout: float | None = None) -> None:
        if job._thread is not None:
            job._thread.join(timeout)

    def _run(self, job: ImportJob, path: Path, options: ImportOptions, upload_dir: Path) -> None:
        def progress(p: ImportProgress) -> None:
            job.done, job.total, job.rows = p.done, p.total, p.rows

        try:
            campaign = self.ctx.store.get_campaign(job.campaign)
            report = import_file(self.ctx.store, campaign, path, options, now=self.ctx.clock.now(), progress=progress)
            if report.import_id is not None and options.rejects_path is not None and options.rejects_path.exists():
                options.rejects_path.replace(rejects_file(self.rejects_dir, report.import_id))
            job.report = report
            job.state = "done"
        except DialerError as exc:
            job.error = f"{exc.message} Nothing was imported."
            job.state = "failed"
        except Exception:
            ref = uuid.uuid4().hex[:12]
            log.exception("import job %s of %s failed unexpectedly (%s)", job.id, job.filename, ref)
            job.error = f"The import failed unexpectedly (logged as {ref}). Nothing was imported."
            job.state = "failed"
        finally:
            job.finished_at = self.ctx.clock.now()
            if options.rejects_path is not None:
                options.rejects_path.unlink(missing_ok=True)
            if job.state == "done":
                shutil.rmtree(upload_dir, ignore_errors=True)

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.state != "running"]
        for job in finished[: max(0, len(finished) - KEEP_JOBS)]:
            self._jobs.pop(job.id, None)

"""Reading a file's rows checked, in order, with worker processes for large files.

:class:`CheckedReader` yields batches of checked rows (see :mod:`dialer.importer.rows` for
their wire format) in file order, whichever way they were made:

* **in this process**, for small files or ``workers=0``;
* **chunked**: CSV in an ASCII-compatible encoding is cut into chunks of whole lines at line
  ends outside quotes (an even number of ``"`` since the chunk's start), and each worker
  parses and checks its chunk. A chunk that ends inside a quoted field — a stray quote in an
  unquoted value fooled the count — says so (:func:`rows.check_chunk`), and the rest of the
  file is parsed here from that chunk on, so the result is always what one process reading
  the file from the top gets;
* **in rows**: other files (XLSX, UTF-16) are parsed here and checked by the workers.

At most ``2 × workers + 1`` batches are in flight, so memory stays bounded however large the
file. A quoting fault a worker finds (:attr:`rows.RowChecker.fault`) is raised here as an
:class:`~dialer.errors.ImportFileError` naming the line in the file.
"""

from __future__ import annotations

import itertools
import marshal
import multiprocessing
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

from dialer.errors import ImportFileError
from dialer.importer import rows as rows_
from dialer.importer import sources

#: Rows per batch when rows are parsed in this process.
BATCH = 5000
#: Bytes read per chunk (cut back to the last line end outside quotes).
CHUNK_BYTES = 512 * 1024
#: Bytes of whole lines held back waiting for a line end outside quotes before the rest of the
#: file is parsed in this process instead (a stray quote makes every cut look inside quotes).
MAX_PENDING_LINES = 8 * CHUNK_BYTES

#: Encodings in which ``"`` and ``\n`` are single bytes that mean only themselves, so a file
#: can be cut at line ends by looking at bytes (and what workers decode each chunk as).
CHUNK_ENCODINGS = {
    "utf-8": "utf-8",
    "utf-8-sig": "utf-8",
    "cp1252": "cp1252",
    "iso8859-1": "latin-1",
    "ascii": "ascii",
}


@dataclass(frozen=True)
class Checked:
    line_offset: int
    """Added to the rows' lines (chunk-relative in chunked reading)."""
    rows: list[rows_.Checked]


@dataclass(frozen=True)
class _Chunk:
    start: int
    end: int
    data: bytes
    final: bool
    uncut: bool = False
    """No cut outside quotes was found: the rest of the file, from ``start``, is parsed here."""


class CheckedReader:
    """The checked rows of ``table``, batch by batch, in file order."""

    def __init__(self, table: sources.Table, rules: rows_.RowRules, *, workers: int) -> None:
        self.table = table
        self.rules = rules
        self.workers = workers
        self.position: int | None = None
        """Bytes of the file settled so far (chunked reading only)."""

    def __iter__(self) -> Iterator[Checked]:
        workers = self.workers
        if workers == 0:
            checker = rows_.RowChecker(self.rules)
            for batch in _row_batches(self.table.rows):
                checked = [c for c in checker.check_batch(batch) if c]
                self._raise_fault(checker.fault, 0)
                yield Checked(0, checked)
            return
        table = self.table
        encoding = CHUNK_ENCODINGS.get(table.encoding or "")
        executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=_pool_context(),
            initializer=rows_.start_worker,
            initargs=(self.rules, encoding or "utf-8", table.delimiter or ","),
        )
        try:
            if table.kind == "csv" and encoding is not None and _has_line_feeds(table):
                yield from self._chunked(executor)
            else:
                yield from self._in_rows(executor, self.table.rows)
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    def _raise_fault(self, fault: tuple[int, str] | None, offset: int) -> None:
        if fault is not None:
            line, message = fault
            raise ImportFileError(f"{self.table.path.name} line {offset + line}: {message}.")

    def _in_rows(self, executor: ProcessPoolExecutor, rows: Iterator[rows_.Row]) -> Iterator[Checked]:
        """Rows parsed here, checked by the workers."""
        in_flight: deque[Future[tuple[bytes, tuple[int, str] | None]]] = deque()

        def settled() -> Checked:
            checked, fault = in_flight.popleft().result()
            self._raise_fault(fault, 0)
            return Checked(0, marshal.loads(checked))

        for batch in _row_batches(rows):
            in_flight.append(executor.submit(rows_.check_rows_in_worker, batch))
            if len(in_flight) > 2 * self.workers:
                yield settled()
        while in_flight:
            yield settled()

    def _chunked(self, executor: ProcessPoolExecutor) -> Iterator[Checked]:
        """The file cut into chunks of whole records, parsed and checked by the workers."""
        table = self.table
        in_flight: deque[tuple[_Chunk, Future[rows_.ChunkResult] | None]] = deque()
        lines = 0  # records before the chunk being settled
        with table.path.open("rb") as handle:
            handle.seek(table.data_start)
            chunks = _chunks(handle, table.data_start)
            while True:
                while len(in_flight) <= 2 * self.workers:
                    chunk = next(chunks, None)
                    if chunk is None:
                        break
                    skip = table.header_line if chunk.start == table.data_start else 0
                    submitted = (
                        None
                        if chunk.uncut
                        else executor.submit(rows_.check_chunk_in_worker, chunk.data, skip, chunk.final)
                    )
                    in_flight.append((chunk, submitted))
                    if chunk.uncut:
                        break
                if not in_flight:
                    return
                chunk, future = in_flight.popleft()
                result = future.result() if future is not None else _UNCUT
                if result.undecodable is not None:
                    line, byte = result.undecodable
                    raise sources.decode_error(table.path, table.encoding or "", byte, line=lines + line)
                skip = table.header_line if chunk.start == table.data_start else 0
                if not result.clean or result.records < skip:
                    # A quote the parity count misread: parse the rest here, from this chunk on.
                    for _, pending in in_flight:
                        if pending is not None:
                            pending.cancel()
                    encoding = "utf-8" if table.encoding == "utf-8-sig" else (table.encoding or "utf-8")
                    with sources.csv_rows_from(
                        table.path,
                        offset=chunk.start,
                        encoding=encoding,
                        delimiter=table.delimiter or ",",
                        first_line=lines,
                    ) as rows:
                        yield from self._in_rows(executor, itertools.islice(rows, skip, None))
                    return
                self._raise_fault(result.fault, lines)
                yield Checked(lines, marshal.loads(result.checked))
                lines += result.records
                self.position = chunk.end


_UNCUT = rows_.ChunkResult(records=0, clean=False, checked=b"")


def _has_line_feeds(table: sources.Table) -> bool:
    """Lines end in LF or CRLF (chunks are cut at LF); files of old Macs end them in CR alone."""
    with table.path.open("rb") as handle:
        handle.seek(table.data_start)
        sample = handle.read(CHUNK_BYTES)
    return b"\n" in sample or b"\r" not in sample


def _row_batches(rows: Iterator[rows_.Row]) -> Iterator[list[rows_.Row]]:
    batch: list[rows_.Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _chunks(handle: BinaryIO, start: int) -> Iterator[_Chunk]:
    """Cut the rest of ``handle`` at line ends outside quotes (an even number of ``"`` since the
    chunk start, which is a record start). A wrong cut is caught by the worker (see
    :func:`rows_.check_chunk`).

    A long value keeps its lines together: the data waits for a line end outside quotes. When
    none comes — a stray quote makes every line end look quoted, or one line is longer than
    the parser reads — an ``uncut`` chunk hands the rest of the file to this process."""
    pending = bytearray()
    position = start
    while True:
        block = handle.read(CHUNK_BYTES)
        if not block:
            if pending:
                yield _Chunk(start=position, end=position + len(pending), data=bytes(pending), final=True)
            return
        pending += block
        cut = _cut(pending)
        if cut < 0:
            has_lines = pending.find(b"\n") >= 0
            if len(pending) > (MAX_PENDING_LINES if has_lines else 4 * sources.PARSE_LIMIT):
                yield _Chunk(start=position, end=position, data=b"", final=False, uncut=True)
                return
            continue
        chunk = bytes(pending[: cut + 1])
        del pending[: cut + 1]
        yield _Chunk(start=position, end=position + len(chunk), data=chunk, final=False)
        position += len(chunk)


def _cut(data: bytearray) -> int:
    """The last line feed of ``data`` with an even number of quotes before it, or -1."""
    cut = data.rfind(b"\n")
    for _ in range(16):
        if cut < 0 or data.count(b'"', 0, cut) % 2 == 0:
            return cut
        cut = data.rfind(b"\n", 0, cut)
    # Many line ends inside quotes (a long multi-line value, or a stray quote): walk forward.
    last, odd, at = -1, 0, 0
    while (feed := data.find(b"\n", at)) >= 0:
        odd ^= data.count(b'"', at, feed) & 1
        if not odd:
            last = feed
        at = feed + 1
    return last


def _pool_context() -> multiprocessing.context.BaseContext:
    """Fork when this process runs a single thread (workers start at once, with the modules
    already imported); otherwise a fork server, since forking a threaded process can
    deadlock. The fork server, like spawn, re-imports the caller's main module: scripts
    that import with workers need the usual ``if __name__ == "__main__":`` guard."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["dialer.importer.rows"])
        return context
    return multiprocessing.get_context("spawn")

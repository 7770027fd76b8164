"""put and get: whole files with progress bars (on a terminal), resumable, in parallel parts.
Each prints one line per file on stdout (the file id / the path written), or one JSON object
per file with --json."""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

import click

from cli.app import App, common_options, report
from cli.config import FileResumeStore
from client import Downloader, Flow, Uploader, UploadOptions
from client.errors import ClientError
from client.models import FileSummary
from client.uploads import (
    DEFAULT_PART_BYTES,
    METHODS,
    MIB,
    MULTIPART_THRESHOLD_BYTES,
    S3_MIN_PART_BYTES,
)

_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": MIB, "mb": MIB, "mib": MIB,
          "g": 1024 * MIB, "gb": 1024 * MIB, "gib": 1024 * MIB}


def parse_bytes(text: str) -> int:
    """`16MiB`, `5M`, `512k`, `1048576` → bytes (binary units)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise click.BadParameter(f"{text!r} is not a size such as 16MiB, 512k or 1048576")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


class ByteSize(click.ParamType[int, "str | int"]):
    name = "size"

    def convert(self, value: str | int, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_bytes(str(value))
        except click.BadParameter as exc:
            self.fail(exc.message, param, ctx)


_parallel_option = click.option("--parallel", "-P", type=click.IntRange(1, 32), default=4,
                                show_default=True, help="Parts or segments in flight at once.")
_limit_option = click.option("--limit-rate", type=ByteSize(), default="0", metavar="SIZE",
                             help="Cap the transfer at SIZE bytes per second (e.g. 10MiB).")


@click.command()
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--method", type=click.Choice(METHODS), default="auto", show_default=True,
              help=f"auto: proxy up to {MULTIPART_THRESHOLD_BYTES // MIB} MiB, multipart above; "
                   "tus: the tus 1.0 protocol (resumable; see --tus-url).")
@click.option("--tus-url", default="", metavar="URL",
              help="With --method tus: another tus server's endpoint (the file is uploaded "
                   "there, without GoVault's token); default this server's /api/upload/tus/.")
@click.option("--tus-chunk-size", type=ByteSize(), default="0", metavar="SIZE",
              help="With --method tus: bytes per PATCH (default 0: the whole file in one).")
@_parallel_option
@click.option("--name", default="", help="Name to store the file under (one PATH only).")
@click.option("--part-size", type=ByteSize(), default=str(DEFAULT_PART_BYTES),
              metavar="SIZE", help="Multipart part size (at least 5MiB; default 16MiB).")
@_limit_option
@common_options
def put(app: App, paths: tuple[Path, ...], method: str, tus_url: str, tus_chunk_size: int,
        parallel: int, name: str, part_size: int, limit_rate: int) -> None:
    """Upload files; prints each new file id. Run again after an interruption to resume."""
    if name and len(paths) > 1:
        raise click.UsageError("--name needs exactly one PATH")
    if part_size < S3_MIN_PART_BYTES:
        raise click.BadParameter("must be at least 5MiB", param_hint="--part-size")
    app.parallel = parallel
    output = app.out
    uploader = Uploader(app.client(), FileResumeStore(), note=output.note)
    if tus_url and method != "tus":
        raise click.UsageError("--tus-url needs --method tus")
    options = UploadOptions(method=method, parallel=parallel, part_size_bytes=part_size,
                            limit_bytes_per_s=limit_rate, tus_endpoint=tus_url,
                            tus_chunk_bytes=tus_chunk_size)
    failure = 0
    for path in paths:
        with output.transfer(f"↑ {name or path.name}") as bar:
            flow = Flow(limit_rate, on_bytes=bar.advance)
            try:
                result = uploader.upload(path, flow, options, name=name, on_start=bar.start)
            except KeyboardInterrupt:
                flow.cancel.set()
                raise
            except ClientError as exc:
                failure = failure or report(exc)
                continue
        if app.as_json:
            output.json(asdict(result))
        else:
            output.line(result.file_id)
    if failure:
        click.get_current_context().exit(failure)


@click.command()
@click.argument("file_id")
@click.option("-o", "--output", "target", type=click.Path(path_type=Path), default=None,
              help="File or directory to write (default: the file's name, here).")
@_parallel_option
@_limit_option
@common_options
def get(app: App, file_id: str, target: Path | None, parallel: int, limit_rate: int) -> None:
    """Download a file (resumes an interrupted download); prints the path written."""
    app.parallel = parallel
    output = app.out
    client = app.client()
    downloader = Downloader(client, anonymous=client.keeper.tokens is None, parallel=parallel)
    with output.transfer(f"↓ {file_id[:8]}") as bar:
        flow = Flow(limit_rate, on_bytes=bar.advance)

        def started(info: FileSummary, dest: Path, have: int) -> None:
            if have:
                output.note(f"resuming download of {dest.name} at {have} bytes")
            bar.start(info.size_bytes)

        try:
            result = downloader.download(file_id, target, flow, on_start=started)
        except KeyboardInterrupt:
            flow.cancel.set()
            raise
    if app.as_json:
        output.json(asdict(result))
    else:
        output.line(result.path)


COMMANDS = [put, get]

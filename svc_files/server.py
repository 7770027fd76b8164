"""gRPC ⇄ domain: reads the caller from metadata, converts protobuf to arguments and domain
results to protobuf. Rules live in service.py; errors are mapped by the common interceptor."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import grpc
from govault.files.v1 import files_pb2, files_pb2_grpc

from common.files import NewFile
from common.grpc.identity import caller, optional_caller, require_service
from common.grpc.metadata import Context
from common.grpc.timestamps import timestamp_pb
from common.tokens import TokenVerifier
from svc_files.models import EDITOR, VIEWER, FileView, Page, Share, Usage
from svc_files.service import FilesService

_PERMISSION_TO_PB = {VIEWER: files_pb2.PERMISSION_VIEWER, EDITOR: files_pb2.PERMISSION_EDITOR}
_PERMISSION_FROM_PB = {v: k for k, v in _PERMISSION_TO_PB.items()}

Ctx: TypeAlias = Context


def summary(view: FileView) -> files_pb2.FileSummary:
    f = view.file
    return files_pb2.FileSummary(
        file_id=f.file_id,
        owner_id=f.owner_id,
        name=f.name,
        mime_type=f.mime_type,
        size_bytes=f.size_bytes,
        checksum=f.checksum,
        created_at=timestamp_pb(f.created_at),
        is_public=f.is_public,
        access=int(view.access),  # type: ignore[arg-type]
    )


def share_pb(share: Share) -> files_pb2.Share:
    return files_pb2.Share(
        user_id=share.user_id,
        email=share.email,
        permission=_PERMISSION_TO_PB[share.permission],
        created_at=timestamp_pb(share.created_at),
    )


def usage_pb(usage: Usage) -> files_pb2.Usage:
    return files_pb2.Usage(used_bytes=usage.used_bytes, reserved_bytes=usage.reserved_bytes,
                           quota_bytes=usage.quota_bytes, files=usage.files)


def permission_from_pb(value: int) -> str:
    return _PERMISSION_FROM_PB.get(value, "")  # type: ignore[call-overload,no-any-return]


def _page_fields(page: Page) -> dict[str, object]:
    return {"files": [summary(v) for v in page.files], "page": page.page,
            "has_more": page.has_more}


class FilesServicer(files_pb2_grpc.FilesServiceServicer):
    def __init__(self, service: FilesService, verifier: TokenVerifier, service_token: str) -> None:
        self._service = service
        self._verifier = verifier
        self._service_token = service_token

    async def _user(self, context: Ctx) -> str:
        return (await caller(context, self._verifier)).user_id

    async def _maybe_user(self, context: Ctx) -> str | None:
        identity = await optional_caller(context, self._verifier)
        return identity.user_id if identity else None

    async def RegisterFile(
        self, request: files_pb2.RegisterFileRequest, context: Ctx
    ) -> files_pb2.RegisterFileResponse:
        require_service(context, self._service_token)
        view, created = await self._service.register_file(NewFile.from_pb(request))
        return files_pb2.RegisterFileResponse(file=summary(view), created=created)

    async def ReserveQuota(
        self, request: files_pb2.ReserveQuotaRequest, context: Ctx
    ) -> files_pb2.ReserveQuotaResponse:
        require_service(context, self._service_token)
        usage = await self._service.reserve_quota(request.user_id, request.upload_uuid,
                                                  request.bytes)
        return files_pb2.ReserveQuotaResponse(usage=usage_pb(usage))

    async def ReleaseQuota(
        self, request: files_pb2.ReleaseQuotaRequest, context: Ctx
    ) -> files_pb2.ReleaseQuotaResponse:
        require_service(context, self._service_token)
        released = await self._service.release_quota(request.upload_uuid)
        return files_pb2.ReleaseQuotaResponse(released_bytes=released)

    async def GetUsage(
        self, request: files_pb2.GetUsageRequest, context: Ctx
    ) -> files_pb2.GetUsageResponse:
        usage = await self._service.usage(await self._user(context))
        return files_pb2.GetUsageResponse(usage=usage_pb(usage))

    async def ListOwned(
        self, request: files_pb2.ListOwnedRequest, context: Ctx
    ) -> files_pb2.ListOwnedResponse:
        page = await self._service.list_owned(
            await self._user(context), request.page.page, request.page.limit
        )
        return files_pb2.ListOwnedResponse(**_page_fields(page))  # type: ignore[arg-type]

    async def ListShared(
        self, request: files_pb2.ListSharedRequest, context: Ctx
    ) -> files_pb2.ListSharedResponse:
        page = await self._service.list_shared(
            await self._user(context), request.page.page, request.page.limit
        )
        return files_pb2.ListSharedResponse(**_page_fields(page))  # type: ignore[arg-type]

    async def ListShortcuts(
        self, request: files_pb2.ListShortcutsRequest, context: Ctx
    ) -> files_pb2.ListShortcutsResponse:
        page = await self._service.list_shortcuts(
            await self._user(context), request.page.page, request.page.limit
        )
        return files_pb2.ListShortcutsResponse(**_page_fields(page))  # type: ignore[arg-type]

    async def GetFile(
        self, request: files_pb2.GetFileRequest, context: Ctx
    ) -> files_pb2.GetFileResponse:
        view = await self._service.get_file(await self._maybe_user(context), request.file_id)
        return files_pb2.GetFileResponse(file=summary(view))

    async def GetDownloadUrl(
        self, request: files_pb2.GetDownloadUrlRequest, context: Ctx
    ) -> files_pb2.GetDownloadUrlResponse:
        link = await self._service.download_link(await self._maybe_user(context), request.file_id)
        return files_pb2.GetDownloadUrlResponse(
            download_url=link.url, expires_at=timestamp_pb(link.expires_at),
            file_name=link.file_name)

    async def RenameFile(
        self, request: files_pb2.RenameFileRequest, context: Ctx
    ) -> files_pb2.RenameFileResponse:
        await self._service.rename(await self._user(context), request.file_id, request.name)
        return files_pb2.RenameFileResponse()

    async def DeleteFile(
        self, request: files_pb2.DeleteFileRequest, context: Ctx
    ) -> files_pb2.DeleteFileResponse:
        await self._service.delete(await self._user(context), request.file_id)
        return files_pb2.DeleteFileResponse()

    async def CopyFile(
        self, request: files_pb2.CopyFileRequest, context: Ctx
    ) -> files_pb2.CopyFileResponse:
        view = await self._service.copy(await self._user(context), request.file_id, request.name)
        return files_pb2.CopyFileResponse(file=summary(view))

    async def AddShares(
        self, request: files_pb2.AddSharesRequest, context: Ctx
    ) -> files_pb2.AddSharesResponse:
        recipients = [(r.email, permission_from_pb(r.permission)) for r in request.recipients]
        shares = await self._service.add_shares(
            await self._user(context), request.file_id, recipients
        )
        return files_pb2.AddSharesResponse(shares=[share_pb(s) for s in shares])

    async def ListShares(
        self, request: files_pb2.ListSharesRequest, context: Ctx
    ) -> files_pb2.ListSharesResponse:
        shares = await self._service.list_shares(await self._user(context), request.file_id)
        return files_pb2.ListSharesResponse(shares=[share_pb(s) for s in shares])

    async def UpdateShare(
        self, request: files_pb2.UpdateShareRequest, context: Ctx
    ) -> files_pb2.UpdateShareResponse:
        await self._service.update_share(
            await self._user(context), request.file_id, request.user_id,
            permission_from_pb(request.permission),
        )
        return files_pb2.UpdateShareResponse()

    async def RemoveShare(
        self, request: files_pb2.RemoveShareRequest, context: Ctx
    ) -> files_pb2.RemoveShareResponse:
        await self._service.remove_share(await self._user(context), request.file_id,
                                         request.user_id)
        return files_pb2.RemoveShareResponse()

    async def CreatePublicLink(
        self, request: files_pb2.CreatePublicLinkRequest, context: Ctx
    ) -> files_pb2.CreatePublicLinkResponse:
        url = await self._service.create_public_link(await self._user(context), request.file_id)
        return files_pb2.CreatePublicLinkResponse(public_url=url)

    async def DeletePublicLink(
        self, request: files_pb2.DeletePublicLinkRequest, context: Ctx
    ) -> files_pb2.DeletePublicLinkResponse:
        await self._service.delete_public_link(await self._user(context), request.file_id)
        return files_pb2.DeletePublicLinkResponse()

    async def CreateShortcut(
        self, request: files_pb2.CreateShortcutRequest, context: Ctx
    ) -> files_pb2.CreateShortcutResponse:
        shortcut = await self._service.create_shortcut(await self._user(context), request.file_id)
        return files_pb2.CreateShortcutResponse(
            shortcut_id=shortcut.shortcut_id, file_id=shortcut.file_id,
            created_at=timestamp_pb(shortcut.created_at),
        )

    async def DeleteShortcut(
        self, request: files_pb2.DeleteShortcutRequest, context: Ctx
    ) -> files_pb2.DeleteShortcutResponse:
        await self._service.delete_shortcut(await self._user(context), request.file_id)
        return files_pb2.DeleteShortcutResponse()


def registrar(servicer: FilesServicer) -> Callable[[grpc.aio.Server], str]:
    def register(server: grpc.aio.Server) -> str:
        files_pb2_grpc.add_FilesServiceServicer_to_server(servicer, server)
        return str(files_pb2.DESCRIPTOR.services_by_name["FilesService"].full_name)

    return register

import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Permission(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PERMISSION_UNSPECIFIED: _ClassVar[Permission]
    PERMISSION_VIEWER: _ClassVar[Permission]
    PERMISSION_EDITOR: _ClassVar[Permission]

class Access(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCESS_UNSPECIFIED: _ClassVar[Access]
    ACCESS_PUBLIC: _ClassVar[Access]
    ACCESS_VIEWER: _ClassVar[Access]
    ACCESS_EDITOR: _ClassVar[Access]
    ACCESS_OWNER: _ClassVar[Access]
PERMISSION_UNSPECIFIED: Permission
PERMISSION_VIEWER: Permission
PERMISSION_EDITOR: Permission
ACCESS_UNSPECIFIED: Access
ACCESS_PUBLIC: Access
ACCESS_VIEWER: Access
ACCESS_EDITOR: Access
ACCESS_OWNER: Access

class FileSummary(_message.Message):
    __slots__ = ("file_id", "owner_id", "name", "mime_type", "size_bytes", "checksum", "created_at", "is_public", "access")
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    IS_PUBLIC_FIELD_NUMBER: _ClassVar[int]
    ACCESS_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    owner_id: str
    name: str
    mime_type: str
    size_bytes: int
    checksum: str
    created_at: _timestamp_pb2.Timestamp
    is_public: bool
    access: Access
    def __init__(self, file_id: _Optional[str] = ..., owner_id: _Optional[str] = ..., name: _Optional[str] = ..., mime_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., checksum: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., is_public: _Optional[bool] = ..., access: _Optional[_Union[Access, str]] = ...) -> None: ...

class RegisterFileRequest(_message.Message):
    __slots__ = ("upload_id", "file_id", "owner_id", "name", "mime_type", "size_bytes", "checksum", "storage_key")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    STORAGE_KEY_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    file_id: str
    owner_id: str
    name: str
    mime_type: str
    size_bytes: int
    checksum: str
    storage_key: str
    def __init__(self, upload_id: _Optional[str] = ..., file_id: _Optional[str] = ..., owner_id: _Optional[str] = ..., name: _Optional[str] = ..., mime_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., checksum: _Optional[str] = ..., storage_key: _Optional[str] = ...) -> None: ...

class RegisterFileResponse(_message.Message):
    __slots__ = ("file", "created")
    FILE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    file: FileSummary
    created: bool
    def __init__(self, file: _Optional[_Union[FileSummary, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class PageRequest(_message.Message):
    __slots__ = ("page", "limit")
    PAGE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    page: int
    limit: int
    def __init__(self, page: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListOwnedRequest(_message.Message):
    __slots__ = ("page",)
    PAGE_FIELD_NUMBER: _ClassVar[int]
    page: PageRequest
    def __init__(self, page: _Optional[_Union[PageRequest, _Mapping]] = ...) -> None: ...

class ListOwnedResponse(_message.Message):
    __slots__ = ("files", "page", "has_more")
    FILES_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    HAS_MORE_FIELD_NUMBER: _ClassVar[int]
    files: _containers.RepeatedCompositeFieldContainer[FileSummary]
    page: int
    has_more: bool
    def __init__(self, files: _Optional[_Iterable[_Union[FileSummary, _Mapping]]] = ..., page: _Optional[int] = ..., has_more: _Optional[bool] = ...) -> None: ...

class ListSharedRequest(_message.Message):
    __slots__ = ("page",)
    PAGE_FIELD_NUMBER: _ClassVar[int]
    page: PageRequest
    def __init__(self, page: _Optional[_Union[PageRequest, _Mapping]] = ...) -> None: ...

class ListSharedResponse(_message.Message):
    __slots__ = ("files", "page", "has_more")
    FILES_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    HAS_MORE_FIELD_NUMBER: _ClassVar[int]
    files: _containers.RepeatedCompositeFieldContainer[FileSummary]
    page: int
    has_more: bool
    def __init__(self, files: _Optional[_Iterable[_Union[FileSummary, _Mapping]]] = ..., page: _Optional[int] = ..., has_more: _Optional[bool] = ...) -> None: ...

class ListShortcutsRequest(_message.Message):
    __slots__ = ("page",)
    PAGE_FIELD_NUMBER: _ClassVar[int]
    page: PageRequest
    def __init__(self, page: _Optional[_Union[PageRequest, _Mapping]] = ...) -> None: ...

class ListShortcutsResponse(_message.Message):
    __slots__ = ("files", "page", "has_more")
    FILES_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    HAS_MORE_FIELD_NUMBER: _ClassVar[int]
    files: _containers.RepeatedCompositeFieldContainer[FileSummary]
    page: int
    has_more: bool
    def __init__(self, files: _Optional[_Iterable[_Union[FileSummary, _Mapping]]] = ..., page: _Optional[int] = ..., has_more: _Optional[bool] = ...) -> None: ...

class GetFileRequest(_message.Message):
    __slots__ = ("file_id",)
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    def __init__(self, file_id: _Optional[str] = ...) -> None: ...

class GetFileResponse(_message.Message):
    __slots__ = ("file",)
    FILE_FIELD_NUMBER: _ClassVar[int]
    file: FileSummary
    def __init__(self, file: _Optional[_Union[FileSummary, _Mapping]] = ...) -> None: ...

class GetDownloadUrlRequest(_message.Message):
    __slots__ = ("file_id",)
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    def __init__(self, file_id: _Optional[str] = ...) -> None: ...

class GetDownloadUrlResponse(_message.Message):
    __slots__ = ("download_url", "expires_at", "file_name")
    DOWNLOAD_URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    download_url: str
    expires_at: _timestamp_pb2.Timestamp
    file_name: str
    def __init__(self, download_url: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., file_name: _Optional[str] = ...) -> None: ...

class RenameFileRequest(_message.Message):
    __slots__ = ("file_id", "name")
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    name: str
    def __init__(self, file_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class RenameFileResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeleteFileRequest(_message.Message):
    __slots__ = ("file_id",)
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    def __init__(self, file_id: _Optional[str] = ...) -> None: ...

class DeleteFileResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CopyFileRequest(_message.Message):
    __slots__ = ("file_id", "name")
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    name: str
    def __init__(self, file_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class CopyFileResponse(_message.Message):
    __slots__ = ("file",)
    FILE_FIELD_NUMBER: _ClassVar[int]
    file: FileSummary
    def __init__(self, file: _Optional[_Union[FileSummary, _Mapping]] = ...) -> None: ...

class ShareRecipient(_message.Message):
    __slots__ = ("email", "permission")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    email: str
    permission: Permission
    def __init__(self, email: _Optional[str] = ..., permission: _Optional[_Union[Permission, str]] = ...) -> None: ...

class Share(_message.Message):
    __slots__ = ("user_id", "email", "permission", "created_at")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email: str
    permission: Permission
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, user_id: _Optional[str] = ..., email: _Optional[str] = ..., permission: _Optional[_Union[Permission, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AddSharesRequest(_message.Message):
    __slots__ = ("file_id", "recipients")
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    recipients: _containers.RepeatedCompositeFieldContainer[ShareRecipient]
    def __init__(self, file_id: _Optional[str] = ..., recipients: _Optional[_Iterable[_Union[ShareRecipient, _Mapping]]] = ...) -> None: ...

class AddSharesResponse(_message.Message):
    __slots__ = ("shares",)
    SHARES_FIELD_NUMBER: _ClassVar[int]
    shares: _containers.RepeatedCompositeFieldContainer[Share]
    def __init__(self, shares: _Optional[_Iterable[_Union[Share, _Mapping]]] = ...) -> None: ...

class ListSharesRequest(_message.Message):
    __slots__ = ("file_id",)
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    def __init__(self, file_id: _Optional[str] = ...) -> None: ...

class ListSharesResponse(_message.Message):
    __slots__ = ("shares",)
    SHARES_FIELD_NUMBER: _ClassVar[int]
    shares: _containers.RepeatedCompositeFieldContainer[Share]
    def __init__(self, shares: _Optional[_Iterable[_Union[Share, _Mapping]]] = ...) -> None: ...

class UpdateShareRequest(_message.Message):
    __slots__ = ("file_id", "user_id", "permission")
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    user_id: str
    permission: Permission
    def __init__(self, file_id: _Optional[str] = ..., user_id: _Optional[str] = ..., permission: _Optional[_Union[Permission, str]] = ...) -> None: ...

class UpdateShareResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RemoveShareRequest(_message.Message):
    __slots__ = ("file_id", "user_id")
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    user_id: str
    def __init__(self, file_id: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class RemoveShareResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreatePublicLinkRequest(_message.Message):
    __slots__ = ("file_id",)
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    def __init__(self, file_id: _Optional[str] = ...) -> None: ...

class CreatePublicLinkResponse(_message.Message):
    __slots__ = ("public_url",)
    PUBLIC_URL_FIELD_NUMBER: _ClassVar[int]
    public_url: str
    def __init__(self, public_url: _Optional[str] = ...) -> None: ...

class DeletePublicLinkRequest(_message.Message):
    __slots__ = ("file_id",)
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    def __init__(self, file_id: _Optional[str] = ...) -> None: ...

class DeletePublicLinkResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateShortcutRequest(_message.Message):
    __slots__ = ("file_id",)
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    def __init__(self, file_id: _Optional[str] = ...) -> None: ...

class CreateShortcutResponse(_message.Message):
    __slots__ = ("shortcut_id", "file_id", "created_at")
    SHORTCUT_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    shortcut_id: str
    file_id: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, shortcut_id: _Optional[str] = ..., file_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DeleteShortcutRequest(_message.Message):
    __slots__ = ("file_id",)
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    def __init__(self, file_id: _Optional[str] = ...) -> None: ...

class DeleteShortcutResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

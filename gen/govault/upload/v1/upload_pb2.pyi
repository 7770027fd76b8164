import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UploadMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UPLOAD_METHOD_UNSPECIFIED: _ClassVar[UploadMethod]
    UPLOAD_METHOD_PROXY: _ClassVar[UploadMethod]
    UPLOAD_METHOD_MULTIPART: _ClassVar[UploadMethod]

class UploadState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UPLOAD_STATE_UNSPECIFIED: _ClassVar[UploadState]
    UPLOAD_STATE_PENDING: _ClassVar[UploadState]
    UPLOAD_STATE_UPLOADING: _ClassVar[UploadState]
    UPLOAD_STATE_COMPLETING: _ClassVar[UploadState]
    UPLOAD_STATE_COMPLETED: _ClassVar[UploadState]
    UPLOAD_STATE_FAILED: _ClassVar[UploadState]
    UPLOAD_STATE_ABORTED: _ClassVar[UploadState]
    UPLOAD_STATE_EXPIRED: _ClassVar[UploadState]
UPLOAD_METHOD_UNSPECIFIED: UploadMethod
UPLOAD_METHOD_PROXY: UploadMethod
UPLOAD_METHOD_MULTIPART: UploadMethod
UPLOAD_STATE_UNSPECIFIED: UploadState
UPLOAD_STATE_PENDING: UploadState
UPLOAD_STATE_UPLOADING: UploadState
UPLOAD_STATE_COMPLETING: UploadState
UPLOAD_STATE_COMPLETED: UploadState
UPLOAD_STATE_FAILED: UploadState
UPLOAD_STATE_ABORTED: UploadState
UPLOAD_STATE_EXPIRED: UploadState

class CreateProxySessionRequest(_message.Message):
    __slots__ = ("file_name", "file_size_bytes")
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    FILE_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    file_name: str
    file_size_bytes: int
    def __init__(self, file_name: _Optional[str] = ..., file_size_bytes: _Optional[int] = ...) -> None: ...

class CreateProxySessionResponse(_message.Message):
    __slots__ = ("upload_uuid", "total_chunks", "chunk_size_bytes", "expires_at")
    UPLOAD_UUID_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    upload_uuid: str
    total_chunks: int
    chunk_size_bytes: int
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, upload_uuid: _Optional[str] = ..., total_chunks: _Optional[int] = ..., chunk_size_bytes: _Optional[int] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ChunkHeader(_message.Message):
    __slots__ = ("upload_uuid", "chunk_index", "checksum_sha256", "content_length")
    UPLOAD_UUID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_INDEX_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_SHA256_FIELD_NUMBER: _ClassVar[int]
    CONTENT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    upload_uuid: str
    chunk_index: int
    checksum_sha256: str
    content_length: int
    def __init__(self, upload_uuid: _Optional[str] = ..., chunk_index: _Optional[int] = ..., checksum_sha256: _Optional[str] = ..., content_length: _Optional[int] = ...) -> None: ...

class UploadChunkRequest(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: ChunkHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[ChunkHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class UploadChunkResponse(_message.Message):
    __slots__ = ("upload_uuid", "chunk_index", "state", "file_id", "received_bytes", "checksum_sha256")
    UPLOAD_UUID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_INDEX_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_BYTES_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_SHA256_FIELD_NUMBER: _ClassVar[int]
    upload_uuid: str
    chunk_index: int
    state: UploadState
    file_id: str
    received_bytes: int
    checksum_sha256: str
    def __init__(self, upload_uuid: _Optional[str] = ..., chunk_index: _Optional[int] = ..., state: _Optional[_Union[UploadState, str]] = ..., file_id: _Optional[str] = ..., received_bytes: _Optional[int] = ..., checksum_sha256: _Optional[str] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ("upload_uuid",)
    UPLOAD_UUID_FIELD_NUMBER: _ClassVar[int]
    upload_uuid: str
    def __init__(self, upload_uuid: _Optional[str] = ...) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("upload_uuid", "state", "method", "total_chunks", "received", "file_id", "expires_at", "file_name", "file_size_bytes", "chunk_size_bytes")
    UPLOAD_UUID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    FILE_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    upload_uuid: str
    state: UploadState
    method: UploadMethod
    total_chunks: int
    received: _containers.RepeatedScalarFieldContainer[int]
    file_id: str
    expires_at: _timestamp_pb2.Timestamp
    file_name: str
    file_size_bytes: int
    chunk_size_bytes: int
    def __init__(self, upload_uuid: _Optional[str] = ..., state: _Optional[_Union[UploadState, str]] = ..., method: _Optional[_Union[UploadMethod, str]] = ..., total_chunks: _Optional[int] = ..., received: _Optional[_Iterable[int]] = ..., file_id: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., file_name: _Optional[str] = ..., file_size_bytes: _Optional[int] = ..., chunk_size_bytes: _Optional[int] = ...) -> None: ...

class CreateMultipartSessionRequest(_message.Message):
    __slots__ = ("file_name", "file_size_bytes", "part_size_bytes")
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    FILE_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    PART_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    file_name: str
    file_size_bytes: int
    part_size_bytes: int
    def __init__(self, file_name: _Optional[str] = ..., file_size_bytes: _Optional[int] = ..., part_size_bytes: _Optional[int] = ...) -> None: ...

class PartUrl(_message.Message):
    __slots__ = ("part_number", "url")
    PART_NUMBER_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    part_number: int
    url: str
    def __init__(self, part_number: _Optional[int] = ..., url: _Optional[str] = ...) -> None: ...

class CreateMultipartSessionResponse(_message.Message):
    __slots__ = ("upload_uuid", "total_chunks", "storage_upload_id", "parts", "expires_at", "part_size_bytes", "urls_expire_at")
    UPLOAD_UUID_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    STORAGE_UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    PART_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    URLS_EXPIRE_AT_FIELD_NUMBER: _ClassVar[int]
    upload_uuid: str
    total_chunks: int
    storage_upload_id: str
    parts: _containers.RepeatedCompositeFieldContainer[PartUrl]
    expires_at: _timestamp_pb2.Timestamp
    part_size_bytes: int
    urls_expire_at: _timestamp_pb2.Timestamp
    def __init__(self, upload_uuid: _Optional[str] = ..., total_chunks: _Optional[int] = ..., storage_upload_id: _Optional[str] = ..., parts: _Optional[_Iterable[_Union[PartUrl, _Mapping]]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., part_size_bytes: _Optional[int] = ..., urls_expire_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RegisterPartRequest(_message.Message):
    __slots__ = ("upload_uuid", "part_number", "size_bytes", "etag")
    UPLOAD_UUID_FIELD_NUMBER: _ClassVar[int]
    PART_NUMBER_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    upload_uuid: str
    part_number: int
    size_bytes: int
    etag: str
    def __init__(self, upload_uuid: _Optional[str] = ..., part_number: _Optional[int] = ..., size_bytes: _Optional[int] = ..., etag: _Optional[str] = ...) -> None: ...

class RegisterPartResponse(_message.Message):
    __slots__ = ("upload_uuid", "part_number", "registered_parts", "total_chunks")
    UPLOAD_UUID_FIELD_NUMBER: _ClassVar[int]
    PART_NUMBER_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_PARTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    upload_uuid: str
    part_number: int
    registered_parts: int
    total_chunks: int
    def __init__(self, upload_uuid: _Optional[str] = ..., part_number: _Optional[int] = ..., registered_parts: _Optional[int] = ..., total_chunks: _Optional[int] = ...) -> None: ...

class PresignPartsRequest(_message.Message):
    __slots__ = ("upload_uuid", "part_numbers")
    UPLOAD_UUID_FIELD_NUMBER: _ClassVar[int]
    PART_NUMBERS_FIELD_NUMBER: _ClassVar[int]
    upload_uuid: str
    part_numbers: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, upload_uuid: _Optional[str] = ..., part_numbers: _Optional[_Iterable[int]] = ...) -> None: ...

class PresignPartsResponse(_message.Message):
    __slots__ = ("parts", "expires_at")
    PARTS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    parts: _containers.RepeatedCompositeFieldContainer[PartUrl]
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, parts: _Optional[_Iterable[_Union[PartUrl, _Mapping]]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CompleteMultipartRequest(_message.Message):
    __slots__ = ("upload_uuid",)
    UPLOAD_UUID_FIELD_NUMBER: _ClassVar[int]
    upload_uuid: str
    def __init__(self, upload_uuid: _Optional[str] = ...) -> None: ...

class CompleteMultipartResponse(_message.Message):
    __slots__ = ("upload_uuid", "file_id", "size_bytes", "checksum", "file_name", "state")
    UPLOAD_UUID_FIELD_NUMBER: _ClassVar[int]
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    upload_uuid: str
    file_id: str
    size_bytes: int
    checksum: str
    file_name: str
    state: UploadState
    def __init__(self, upload_uuid: _Optional[str] = ..., file_id: _Optional[str] = ..., size_bytes: _Optional[int] = ..., checksum: _Optional[str] = ..., file_name: _Optional[str] = ..., state: _Optional[_Union[UploadState, str]] = ...) -> None: ...

class AbortRequest(_message.Message):
    __slots__ = ("upload_uuid",)
    UPLOAD_UUID_FIELD_NUMBER: _ClassVar[int]
    upload_uuid: str
    def __init__(self, upload_uuid: _Optional[str] = ...) -> None: ...

class AbortResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

"""The XML of S3: answers read with a real XML parser (`parse_xml`; S3 may send whitespace
first, and an <Error> inside a 200), the CompleteMultipartUpload body (`complete_body`) and ETags
as the store quotes them (`clean_etag`)."""

from __future__ import annotations

import xml.etree.ElementTree as ET


def parse_xml(payload: bytes) -> dict[str, str]:
    """The text of every element in an S3 XML answer, by local name (namespace dropped), first
    occurrence wins; {} when the payload is empty or not XML. `Error` is present (as "") when the
    root or any element is an <Error>."""
    payload = payload.lstrip()  # S3 may send whitespace first to keep a slow answer alive
    if not payload:
        return {}
    try:
        root = ET.fromstring(payload)
    except ET.ParseError:
        return {}
    found: dict[str, str] = {}
    for element in root.iter():
        name = element.tag.rpartition("}")[2]
        found.setdefault(name, (element.text or "").strip())
    return found



def clean_etag(value: str) -> str:
    return value.replace("&quot;", "").replace("&#34;", "").strip().strip('"')


def complete_body(parts: list[tuple[int, str]]) -> bytes:
    """The CompleteMultipartUpload request body for (part number, ETag) pairs."""
    root = ET.Element("CompleteMultipartUpload")
    for number, etag in parts:
        part = ET.SubElement(root, "Part")
        ET.SubElement(part, "PartNumber").text = str(number)
        ET.SubElement(part, "ETag").text = f'"{etag}"'
    return ET.tostring(root)

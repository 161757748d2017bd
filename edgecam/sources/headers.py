"""A picture's width and height read from its file header, without decoding it.

This is what lets a picture too large to decode be refused first: a 71 KB deflate TIFF or a
1.2 MB PNG of 20000x20000 decodes into 1.2 GB. Every picture type edgecam walks is known here
(PNG, JPEG, BMP, GIF, WebP, TIFF and BigTIFF in either byte order, PNM/PAM/PFM, Sun raster,
JPEG 2000, Radiance HDR, AVIF); a header that does not say gives None.
"""

from __future__ import annotations

import re

Buffer = bytes | memoryview
Size = tuple[int, int]


def _be(data: Buffer, at: int, n: int) -> int:
    return int.from_bytes(data[at:at + n], "big")


def _le(data: Buffer, at: int, n: int) -> int:
    return int.from_bytes(data[at:at + n], "little")


def _jpeg_size(data: Buffer) -> Size | None:
    """Width and height from the first start-of-frame marker."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return _be(data, i + 7, 2), _be(data, i + 5, 2)
        i += 2 + _be(data, i + 2, 2)
    return None


def _webp_size(data: Buffer) -> Size | None:
    chunk = bytes(data[12:16])
    if chunk == b"VP8 ":
        return _le(data, 26, 2) & 0x3FFF, _le(data, 28, 2) & 0x3FFF
    if chunk == b"VP8L":
        bits = _le(data, 21, 4)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return _le(data, 24, 3) + 1, _le(data, 27, 3) + 1
    return None


# TIFF field types that can hold ImageWidth / ImageLength: SHORT, LONG, LONG8 (BigTIFF)
_TIFF_INT = {3: 2, 4: 4, 16: 8}
_TIFF_WIDTH, _TIFF_LENGTH = 256, 257


def _tiff_size(data: Buffer) -> Size | None:
    """ImageWidth and ImageLength of the first directory (the picture OpenCV decodes), which
    libtiff usually writes after the pixel data: ``data`` must be the whole file."""
    order = {b"II": "little", b"MM": "big"}[bytes(data[:2])]

    def num(at: int, n: int) -> int:
        return int.from_bytes(data[at:at + n], order)  # type: ignore[arg-type]

    if num(2, 2) == 42:  # classic: 4-byte offsets, 12-byte entries, value at +8
        ifd, count_size, entry, value_at = num(4, 4), 2, 12, 8
    elif num(2, 2) == 43 and num(4, 2) == 8:  # BigTIFF: 8-byte offsets, 20-byte entries
        ifd, count_size, entry, value_at = num(8, 8), 8, 20, 12
    else:
        return None
    if ifd < 8 or ifd + count_size > len(data):
        return None
    fields: dict[int, int] = {}
    start = ifd + count_size
    for i in range(min(num(ifd, count_size), (len(data) - start) // entry)):
        at = start + i * entry
        tag, kind = num(at, 2), num(at + 2, 2)
        if tag in (_TIFF_WIDTH, _TIFF_LENGTH) and kind in _TIFF_INT:
            fields[tag] = num(at + value_at, _TIFF_INT[kind])  # left-justified in the field
    if _TIFF_WIDTH in fields and _TIFF_LENGTH in fields:
        return fields[_TIFF_WIDTH], fields[_TIFF_LENGTH]
    return None


_PAM_FIELD = re.compile(rb"^(WIDTH|HEIGHT)[ \t]+(\d+)", re.MULTILINE)
_COMMENT = re.compile(rb"#[^\n\r]*")


def _pnm_size(data: Buffer) -> Size | None:
    """PBM/PGM/PPM (P1-P6) and PFM (PF, Pf): width and height are the first two numbers after
    the magic, comments aside; PAM (P7) names them on WIDTH and HEIGHT lines."""
    head = bytes(data[:4096])
    if head[1:2] == b"7":
        fields = {k: int(v) for k, v in _PAM_FIELD.findall(head.split(b"ENDHDR")[0])}
        return (fields[b"WIDTH"], fields[b"HEIGHT"]) if len(fields) == 2 else None
    if head[1:2] not in (b"1", b"2", b"3", b"4", b"5", b"6", b"F", b"f") \
            or not head[2:3].isspace():
        return None
    tokens = _COMMENT.sub(b" ", head[2:]).split(maxsplit=2)[:2]
    if len(tokens) == 2 and all(t.isdigit() for t in tokens):
        return int(tokens[0]), int(tokens[1])
    return None


def _jpeg2000_size(data: Buffer) -> Size | None:
    """A JP2 file's image header box (height, then width) or a bare codestream's SIZ marker
    (the image area minus its offset)."""
    if bytes(data[:4]) == b"\xff\x4f\xff\x51":
        return _be(data, 8, 4) - _be(data, 16, 4), _be(data, 12, 4) - _be(data, 20, 4)
    at = bytes(data[:1 << 16]).find(b"ihdr")
    return (_be(data, at + 8, 4), _be(data, at + 4, 4)) if at > 0 else None


_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
_RADIANCE_AXES = re.compile(rb"\n[-+]([XY]) (\d+) [-+]([XY]) (\d+)\s")


def _radiance_size(data: Buffer) -> Size | None:
    """The resolution line after a Radiance HDR header ("-Y 300 +X 500": rows first)."""
    found = _RADIANCE_AXES.search(bytes(data[:4096]))
    if found is None or {found[1], found[3]} != {b"X", b"Y"}:
        return None
    axes = {found[1]: int(found[2]), found[3]: int(found[4])}
    return axes[b"X"], axes[b"Y"]


def _heif_size(data: Buffer) -> Size | None:
    """An AVIF (HEIF) file's image spatial extents property: width, then height."""
    at = bytes(data[:1 << 16]).find(b"ispe")
    return (_be(data, at + 8, 4), _be(data, at + 12, 4)) if at > 0 else None


def picture_size(data: Buffer) -> Size | None:
    """(width, height) from the header of a picture file (``data``: the file, or its start;
    a TIFF's directory may be at its end); None for other formats or a header too short to
    tell."""
    magic = bytes(data[:16])
    if magic[:8] == b"\x89PNG\r\n\x1a\n" and magic[12:16] == b"IHDR":
        return _be(data, 16, 4), _be(data, 20, 4)
    if magic[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    if magic[:2] == b"BM" and len(data) >= 26:
        return abs(int.from_bytes(data[18:22], "little", signed=True)), \
            abs(int.from_bytes(data[22:26], "little", signed=True))
    if magic[:4] == b"GIF8" and len(data) >= 10:
        return _le(data, 6, 2), _le(data, 8, 2)
    if magic[:4] == b"RIFF" and magic[8:12] == b"WEBP" and len(data) >= 30:
        return _webp_size(data)
    if magic[:2] in (b"II", b"MM") and len(data) >= 16:
        return _tiff_size(data)
    if magic[:1] == b"P" and len(data) >= 3:
        return _pnm_size(data)
    if magic[:4] == b"\x59\xa6\x6a\x95" and len(data) >= 12:  # Sun raster
        return _be(data, 4, 4), _be(data, 8, 4)
    if magic[:12] == _JP2_SIGNATURE or magic[:4] == b"\xff\x4f\xff\x51":
        return _jpeg2000_size(data)
    if magic[:2] == b"#?":
        return _radiance_size(data)
    if magic[4:8] == b"ftyp" and magic[8:12] in (b"avif", b"avis", b"heic", b"mif1"):
        return _heif_size(data)
    return None

"""sensor_msgs/CompressedImage payloads <-> numpy, as image_transport's plugins write and read them.

- ``compressed`` (compressed_image_transport): JPEG or PNG colour, ``format`` like ``"rgb8; jpeg compressed bgr8"``
  (or a bare ``"jpeg"`` / ``"png"``); for depth, a 16-bit PNG (``"16UC1; png compressed mono16"``).
- ``compressedDepth`` (compressed_depth_image_transport): a 12-byte header (int32 format, float32 quantisation
  parameters A and B, little-endian) then a PNG or RVL image; ``format`` like ``"16UC1; compressedDepth png"`` or
  ``"32FC1; compressedDepth rvl"``. 16UC1 carries the raw units; 32FC1 carries quantised inverse depth,
  ``depth = A / (q - B)`` with ``q = 0`` invalid.

RVL (Wilson, "Fast lossless depth image compression", 2017) is decoded with numpy: the nibble stream is split into
variable-length integers at once and only the runs are walked in Python. Every problem raises ``ConversionError``
with the reason; a truncated or corrupt payload is never decoded into a partial image.

``depth_to_compressed`` writes the node's own depth output as compressedDepth, byte for byte what
compressed_depth_image_transport's decoder (RViz's DepthCloud, ``image_transport republish``) reads.
"""

from __future__ import annotations

import struct
from contextlib import contextmanager

import numpy as np

from .convert import ConversionError

HEADER = struct.Struct("<iff")  # compressed_depth_image_transport::ConfigHeader
_SHIFTS = np.arange(28, -1, -4, dtype=np.uint32)  # nibbles are read from the top of each 32-bit word
_MAX_PIXELS = 1 << 26  # 8192 x 8192
_MAX_NIBBLES = 11  # a run length below 2**32 takes at most 11 three-bit groups


def _buffer(data, what: str) -> np.ndarray:
    buf = data.view(np.uint8).ravel() if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)
    if buf.size == 0:
        raise ConversionError(f"empty compressed {what} image")
    return buf


@contextmanager
def _opencv_silent(cv2):
    """OpenCV's own log lines off for the block, then back at their level (OpenCV 5: ``cv2.utils.logging``;
    4.x, what Python 3.10 gets: ``cv2.getLogLevel``/``setLogLevel``; 0 is LOG_LEVEL_SILENT in both)."""
    api = getattr(getattr(cv2, "utils", None), "logging", None) or cv2
    level = api.getLogLevel() if hasattr(api, "setLogLevel") else None
    if level is not None:
        api.setLogLevel(0)
    try:
        yield
    finally:
        if level is not None:
            api.setLogLevel(level)


def _imdecode(buf: np.ndarray, what: str, fmt: str) -> np.ndarray:
    import cv2

    with _opencv_silent(cv2):  # a corrupt payload gets one reason from here, not OpenCV's lines on every frame
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise ConversionError(f"cannot decode compressed {what} image (format {fmt!r}, {buf.size} bytes): "
                              "truncated, corrupt or not JPEG/PNG")
    return img


def is_compressed(msg) -> bool:
    """True for a sensor_msgs/CompressedImage (it has ``format`` where an Image has ``encoding``)."""
    return hasattr(msg, "format") and not hasattr(msg, "encoding")


def compressed_to_rgb(fmt: str, data) -> np.ndarray:
    """JPEG/PNG colour payload -> HxWx3 uint8 RGB (grey is repeated, alpha dropped, 16-bit scaled to 8)."""
    if "compresseddepth" in fmt.lower():
        raise ConversionError(f"colour topic carries a compressedDepth image (format {fmt!r})")
    img = _imdecode(_buffer(data, "colour"), "colour", fmt)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.dtype != np.uint8:
        raise ConversionError(f"compressed colour image decodes to {img.dtype}, expected 8 or 16 bit")
    if img.ndim == 2:
        return np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., 2::-1])  # OpenCV decodes to BGR(A)


def decode_rvl(payload: np.ndarray) -> np.ndarray:
    """RVL payload (uint32 width, uint32 height, then 32-bit words of nibbles) -> HxW uint16."""
    if payload.size < 8:
        raise ConversionError(f"RVL payload of {payload.size} bytes has no size header")
    cols, rows = struct.unpack("<II", payload[:8].tobytes())
    n = rows * cols
    body = payload[8:]
    if n == 0 or n > _MAX_PIXELS:  # the runs are checked against the size before anything is allocated
        raise ConversionError(f"malformed RVL image: it reports {cols}x{rows}")
    if body.size % 4:
        raise ConversionError(f"truncated RVL image: {body.size} bytes of words is not a multiple of 4")
    words = body.view("<u4").astype(np.uint32)
    nib = ((words[:, None] >> _SHIFTS) & 0xF).ravel()
    ends = np.flatnonzero(nib < 8)  # a nibble without the 'more' bit ends a value
    if ends.size == 0:
        raise ConversionError("truncated RVL image: no complete value")
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > _MAX_NIBBLES:
        raise ConversionError("malformed RVL image: a value longer than 32 bits")
    used = ends[-1] + 1
    pos = np.arange(used) - np.repeat(starts, lengths)
    vals = np.add.reduceat((nib[:used] & 7).astype(np.int64) << (3 * pos), starts)
    # walk the runs: zeros count, nonzeros count, then that many zigzag deltas
    run_out, run_val, run_len = [], [], []
    i = out = 0
    nvals = vals.size
    while out < n:
        if i + 2 > nvals:
            raise ConversionError(f"truncated RVL image: {out} of {n} pixels decoded")
        zeros, nonzeros = int(vals[i]), int(vals[i + 1])
        out += zeros
        i += 2
        if out + nonzeros > n or i + nonzeros > nvals:
            raise ConversionError(f"malformed or truncated RVL image at pixel {out} of {n}")
        if nonzeros:
            run_out.append(out)
            run_val.append(i)
            run_len.append(nonzeros)
        out += nonzeros
        i += nonzeros
    if out != n:
        raise ConversionError(f"malformed RVL image: runs cover {out} pixels, not {n}")
    img = np.zeros(n, np.uint16)
    if run_len:
        lens = np.asarray(run_len)
        offs = np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens)
        pix = np.repeat(np.asarray(run_out), lens) + offs
        zig = vals[np.repeat(np.asarray(run_val), lens) + offs]
        deltas = (zig >> 1) ^ -(zig & 1)
        img[pix] = (np.cumsum(deltas) & 0xFFFF).astype(np.uint16)
    return img.reshape(rows, cols)


def compressed_to_depth(fmt: str, data, depth_scale: float = 0.001) -> tuple[np.ndarray, int]:
    """compressedDepth (PNG or RVL; 16UC1 or 32FC1) or 16-bit PNG payload -> (HxW float32 metres, 0 = invalid,
    number of impossible values made invalid), like ``image_to_depth`` for an Image."""
    encoding = fmt.split(";")[0].strip()
    buf = _buffer(data, "depth")
    if "compresseddepth" not in fmt.lower():
        img = _imdecode(buf, "depth", fmt)
        if img.dtype != np.uint16 or img.ndim != 2:
            raise ConversionError(f"compressed depth (format {fmt!r}) decodes to {img.dtype} with "
                                  f"{1 if img.ndim == 2 else img.shape[2]} channels; expected 16-bit single-channel "
                                  "PNG (publish depth with the compressedDepth transport)")
        return img.astype(np.float32) * np.float32(depth_scale), 0
    if encoding not in ("16UC1", "mono16", "32FC1"):
        raise ConversionError(f"unsupported compressedDepth encoding {encoding!r}; expected 16UC1 or 32FC1")
    if buf.size <= HEADER.size:
        raise ConversionError(f"truncated compressedDepth image: {buf.size} bytes")
    _, quant_a, quant_b = HEADER.unpack(buf[:HEADER.size].tobytes())
    payload = buf[HEADER.size:]
    if "compresseddepth rvl" in fmt.lower():
        q = decode_rvl(payload)
    else:
        q = _imdecode(payload, "depth", fmt)
        if q.dtype != np.uint16 or q.ndim != 2:
            raise ConversionError(f"compressedDepth PNG (format {fmt!r}) is not 16-bit single-channel")
    if encoding != "32FC1":
        return q.astype(np.float32) * np.float32(depth_scale), 0
    if not (np.isfinite(quant_a) and np.isfinite(quant_b) and quant_a > 0):
        raise ConversionError(f"compressedDepth 32FC1 header has unusable quantisation A={quant_a}, B={quant_b}")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # inf or NaN: counted in `bad` below
        depth = np.float32(quant_a) / (q.astype(np.float32) - np.float32(quant_b))
    valid = q > 0
    bad = valid & ~(np.isfinite(depth) & (depth > 0))
    return np.where(valid & ~bad, depth, np.float32(0)).astype(np.float32), int(np.count_nonzero(bad))


# compressed_depth_image_transport's defaults: 32FC1 depth is quantised as inverse depth, q = A / d + B, with
# A = z0 (z0 + 1) and B = 1 - A / depth_max (z0 = depth_quantization), so a step of q is d^2 / A metres (0.9 mm at
# 3 m, 9.9 mm at 10 m); q = 0 is invalid.
DEPTH_QUANTIZATION = 100.0
INV_DEPTH = 0  # ConfigHeader.format (compressionFormat: UNDEFINED = -1, INV_DEPTH)
PNG_LEVEL = 1  # zlib level: 9 (image_transport's default) took 360-520 ms for a 640x576 frame here, 1 about 10 ms


def depth_to_compressed(img: np.ndarray, encoding: str, depth_max: float = 10.0) -> tuple[str, bytes]:
    """A depth image as the node publishes it (32FC1 metres with NaN, or 16UC1 millimetres with 0) -> (format,
    data) of its compressedDepth message, PNG inside. As compressed_depth_image_transport does, depth beyond
    ``depth_max`` (metres) is left out; 32FC1 depth nearer than the quantisation reaches (0.15 m with
    ``depth_max`` 10) is left out too, where the C++ encoder would wrap around. (Its RVL alternative is not
    written: in numpy it took 3x PNG's time here for a larger message.)"""
    if encoding == "32FC1":
        quant_a = np.float32(DEPTH_QUANTIZATION * (DEPTH_QUANTIZATION + 1.0))
        quant_b = np.float32(1.0 - quant_a / np.float32(depth_max))
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.rint(quant_a / img.astype(np.float32) + quant_b)
            q = np.where((img > 0) & (img < depth_max) & (q >= 1) & (q <= 65535), q, 0).astype(np.uint16)
        header = HEADER.pack(INV_DEPTH, float(quant_a), float(quant_b))
    elif encoding == "16UC1":
        q = np.where(img.astype(np.float64) > depth_max * 1000.0, 0, img).astype(np.uint16)
        header = HEADER.pack(INV_DEPTH, 0.0, 0.0)
    else:
        raise ValueError(f"compressedDepth carries 32FC1 or 16UC1 depth, not {encoding!r}")
    import cv2

    ok, buf = cv2.imencode(".png", q, [cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL])
    if not ok:
        raise ConversionError(f"PNG encoding of a {q.shape[1]}x{q.shape[0]} depth image failed")
    return f"{encoding}; compressedDepth png", header + buf.tobytes()

"""Write a PNG whose header claims WxH (tiny IDAT, so the file is small but truncated/corrupt data)."""
import struct, sys, zlib
w, h, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)  # 8-bit grey
# a real compressed stream of all-zero rows when small enough; else a short stream
full = len(sys.argv) > 4
raw = zlib.compress(b"\0" * ((w + 1) * (h if full else min(h, 64))), 9)
open(out, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b""))

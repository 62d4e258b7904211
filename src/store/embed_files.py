#!/usr/bin/env python3
"""embed_files.py: writes the web console's files (src/store/console/) into
a C source file as byte arrays, with the Content-Type of each (from its
extension; an unknown extension fails the build) and an ETag (the first 32
hex digits of its SHA-256), for console.c. Run by meson at build time:

    embed_files.py OUTPUT.c FILE...

Only the base names are kept: the console is one flat directory."""
import hashlib
import os
import sys

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}


def main(out, paths):
    lines = ["/* generated at build time by src/store/embed_files.py from",
             " * src/store/console/: do not edit */",
             '#include "console.h"', ""]
    rows = []
    names = set()
    for i, path in enumerate(sorted(paths, key=os.path.basename)):
        name = os.path.basename(path)
        ext = os.path.splitext(name)[1]
        if ext not in TYPES:
            sys.exit(f"embed_files.py: {path}: no Content-Type known for {ext!r}")
        if name in names:
            sys.exit(f"embed_files.py: {path}: a second file named {name}")
        names.add(name)
        with open(path, "rb") as f:
            data = f.read()
        etag = '\\"' + hashlib.sha256(data).hexdigest()[:32] + '\\"'
        lines.append(f"static const unsigned char file_{i}[] = {{")
        for k in range(0, len(data), 16):
            lines.append("\t" + ", ".join(f"0x{b:02x}" for b in data[k:k + 16]) + ",")
        lines.append("\t0x00};")
        rows.append(f'\t{{"{name}", "{TYPES[ext]}", file_{i}, {len(data)}u, "{etag}"}},')
    lines.append("")
    lines.append("const struct console_file console_files[] = {")
    lines += rows
    lines.append("};")
    lines.append(f"const size_t console_files_count = {len(rows)};")
    with open(out + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: embed_files.py OUTPUT.c FILE...")
    main(sys.argv[1], sys.argv[2:])

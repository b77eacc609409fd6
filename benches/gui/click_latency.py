#!/usr/bin/env python3
"""Click-to-pixels latency of the reslab window on an X server.

Clicks two points of the window in turn (by default the Curves and F(x)
tabs of a 1440x900 window at the screen's origin) with xdotool and reads the
screen with xwd until the pixels of a watched region change: the time from
the click to the changed pixels on the X server. The window's own repaints
for training progress can change the region too; the tab strip changes only
when a tab is chosen.

    DISPLAY=:99 python3 benches/gui/click_latency.py --clicks 12

Needs xdotool, and python-xlib (`pip install python-xlib`: reads the region
in well under a millisecond) or else xwd (x11-apps: a whole-screen dump, tens
of milliseconds a read, which then bound the resolution). Prints one line per
click and the median and worst, in milliseconds.
"""

import argparse
import hashlib
import statistics
import struct
import subprocess
import time


try:
    from Xlib import X, display

    _ROOT = display.Display().screen().root
except ImportError:
    _ROOT = None


def region_hash(x0, y0, x1, y1):
    """A hash of the screen's pixels in [x0, x1) x [y0, y1)."""
    if _ROOT is not None:
        img = _ROOT.get_image(x0, y0, x1 - x0, y1 - y0, X.ZPixmap, 0xFFFFFFFF)
        return hashlib.sha1(img.data).digest()
    return xwd_region_hash(x0, y0, x1, y1)


def xwd_region_hash(x0, y0, x1, y1):
    """As region_hash, read with xwd."""
    raw = subprocess.run(
        ["xwd", "-root", "-silent"], check=True, capture_output=True
    ).stdout
    header_size = struct.unpack(">I", raw[0:4])[0]
    fields = struct.unpack(">25I", raw[0:100])
    width, height = fields[4], fields[5]
    bits_per_pixel, bytes_per_line = fields[11], fields[12]
    ncolors = fields[19]
    if bits_per_pixel != 32:
        raise SystemExit(f"xwd gave {bits_per_pixel} bits per pixel; run Xvfb with depth 24")
    data = raw[header_size + 12 * ncolors :]
    h = hashlib.sha1()
    for y in range(y0, min(y1, height)):
        row = data[y * bytes_per_line : (y + 1) * bytes_per_line]
        h.update(row[4 * x0 : 4 * min(x1, width)])
    return h.digest()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clicks", type=int, default=12)
    p.add_argument("--points", default="432,66;486,66", help="x,y;x,y clicked in turn")
    p.add_argument("--region", default="400,55,900,80", help="x0,y0,x1,y1 watched")
    p.add_argument("--pause", type=float, default=1.5, help="seconds between clicks")
    p.add_argument("--timeout", type=float, default=5.0)
    a = p.parse_args()
    points = [tuple(int(v) for v in q.split(",")) for q in a.points.split(";")]
    region = tuple(int(v) for v in a.region.split(","))
    times = []
    for k in range(a.clicks):
        x, y = points[k % len(points)]
        before = region_hash(*region)
        t0 = time.perf_counter()
        subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", "1"], check=True)
        while True:
            time.sleep(0.002)
            if region_hash(*region) != before:
                ms = (time.perf_counter() - t0) * 1e3
                break
            if time.perf_counter() - t0 > a.timeout:
                ms = float("inf")
                break
        times.append(ms)
        print(f"click {k + 1} at {x},{y}: {ms:.0f} ms")
        time.sleep(a.pause)
    finite = [t for t in times if t != float("inf")]
    print(
        f"median {statistics.median(times):.0f} ms, worst {max(times):.0f} ms "
        f"over {len(times)} clicks ({len(times) - len(finite)} without a change)"
    )


if __name__ == "__main__":
    main()

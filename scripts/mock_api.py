#!/usr/bin/env python3
"""Development aid: serves assets/ and canned JSON shaped like dcpue's /api/v1, so the dashboard
can be looked at (e.g. with headless Chromium screenshots) without the engine.

    python3 scripts/mock_api.py [PORT]      # then open http://127.0.0.1:PORT/

Values drift a little with wall-clock time so live updates are visible. Loopback only.
"""
import json
import math
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets")
CST = timezone(timedelta(hours=8))
WINDOWS = ["15m", "1h", "24h", "30d", "365d"]

FACILITIES = [
    # id, name, name_en, city, tier, class, annual pue, coverage, renewable share, target, stale
    ("nanchang-1", "南昌核心数据中心", "Nanchang Core Data Centre", "Nanchang", "core", "ultra-large", 1.248, 0.987, 0.31, 0.30, False),
    ("jiujiang-1", "九江数据中心", "Jiujiang Data Centre", "Jiujiang", "supplementary", "large", 1.342, 0.962, 0.12, 0.20, False),
    ("shangrao-1", "上饶数据中心", "Shangrao Data Centre", "Shangrao", "supplementary", "large", 1.274, 0.955, 0.22, None, False),
    ("ganzhou-1", "赣州数据中心", "Ganzhou Data Centre", "Ganzhou", "supplementary", "large", 1.191, 0.991, 0.41, 0.35, False),
    ("yichun-1", "宜春数据中心", "Yichun Data Centre", "Yichun", "supplementary", "large", 1.287, 0.944, None, None, False),
    ("fuzhou-1", "抚州备份数据中心", "Fuzhou Backup Data Centre", "Fuzhou", "backup", "medium", 1.412, 0.93, 0.05, None, True),
    ("yingtan-1", "鹰潭备份数据中心", "Yingtan Backup Data Centre", "Yingtan", "backup", "medium", 1.262, 0.61, None, None, False),
]
CEILING = {"ultra-large": 1.3, "large": 1.3, "medium": 1.5, "small": 1.5}


def iso(dt):
    return dt.astimezone(CST).isoformat(timespec="seconds")


def now():
    return datetime.now(timezone.utc).replace(microsecond=0)


def facility(row):
    fid, name, name_en, city, tier, cls, pue, cov, share, target, stale = row
    t = time.time()
    jitter = 0.004 * math.sin(t / 40.0 + len(fid))
    wm = now() - (timedelta(hours=3) if stale else timedelta(seconds=30))
    windows = {}
    for i, w in enumerate(WINDOWS):
        wp = pue + (0.03 * math.sin(i + len(fid)) if w != "365d" else 0.0) + (jitter if w in ("15m", "1h") else 0)
        wc = min(1.0, cov + (0.01 * i if w != "365d" else 0))
        if fid == "yingtan-1" and w in ("15m", "1h"):
            wc = 1.0
        total = {"15m": 250, "1h": 1000, "24h": 24000, "30d": 720000, "365d": 8.76e6}[w]
        windows[w] = {
            "pue": round(wp, 4),
            "coverage": round(wc, 4),
            "renewable_share": share,
            "energy_kwh": {"total": total, "it": round(total / wp, 1), "renewable": round(total * (share or 0), 1)},
        }
    ceiling = CEILING[cls]
    if cov < 0.9:
        status, grade = "insufficient_data", None
    elif pue > ceiling:
        status, grade = "breach", (3 if pue <= 1.5 else None)
    else:
        status, grade = "compliant", (1 if pue <= 1.2 else 2 if pue <= 1.3 else 3)
    return {
        "id": fid, "name": name, "name_en": name_en, "city": city, "tier": tier, "class": cls,
        "pue_ceiling": ceiling, "renewable_target": target, "watermark": iso(wm), "stale": stale,
        "compliance_window": "365d", "windows": windows, "status": status, "grade": grade,
        "accepted_total": 1_234_567 + int(t) % 100000,
    }


def detail(fid):
    for row in FACILITIES:
        if row[0] == fid:
            f = facility(row)
            last = now() - timedelta(seconds=30)
            f["meters"] = [
                {"id": "grid-in", "roles": ["total"], "weight": 1.0, "last_ts": iso(last), "last_power_kw": 3120.5,
                 "last_energy_kwh": 18234567.2, "coverage": [[w, 0.99] for w in WINDOWS], "holds_watermark": True},
                {"id": "it-a", "roles": ["it"], "weight": 1.0, "last_ts": iso(last), "last_power_kw": 1210.0,
                 "last_energy_kwh": 7234567.0, "coverage": [[w, 0.98] for w in WINDOWS], "holds_watermark": True},
                {"id": "it-b", "roles": ["it"], "weight": 1.0, "last_ts": iso(last - timedelta(minutes=2)), "last_power_kw": 1190.2,
                 "last_energy_kwh": 7134567.0, "coverage": [[w, 0.97] for w in WINDOWS], "holds_watermark": True},
                {"id": "office", "roles": ["total"], "weight": -1.0, "last_ts": iso(last), "last_power_kw": 40.1,
                 "last_energy_kwh": 123456.0, "coverage": [[w, 1.0] for w in WINDOWS], "holds_watermark": False},
                {"id": "pv-roof", "roles": ["total", "renewable"], "weight": 1.0, "last_ts": iso(last), "last_power_kw": 310.0,
                 "last_energy_kwh": 934567.0, "coverage": [[w, 0.5] for w in WINDOWS], "holds_watermark": False},
            ]
            return f
    return None


def parse_ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def parse_span(s):
    n, u = int(s[:-1]), s[-1]
    return timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[u]: n})


def series(fid, q):
    row = next((r for r in FACILITIES if r[0] == fid), None)
    if row is None:
        return None
    window = q.get("window", ["24h"])[0]
    step = parse_span(q.get("step", ["1h"])[0])
    to = parse_ts(q["to"][0]) if "to" in q else now()
    frm = parse_ts(q["from"][0]) if "from" in q else to - timedelta(days=1)
    pts = []
    t = frm + step
    k = 0
    base = row[6]
    while t <= to and k < 2000:
        h = t.astimezone(CST).hour
        day = (t - frm).days
        pue = base + 0.05 * math.sin((h - 14) / 24 * 2 * math.pi) * (1 if window in ("15m", "1h") else 0.2) \
            + 0.04 * math.sin(day / 58.0 * 2 * math.pi)
        cov = 0.97 + 0.02 * math.sin(k)
        if fid == "yingtan-1" and k % 9 < 4:
            cov = 0.45
        if 30 < k < 34 and fid == "nanchang-1":
            pts.append({"t": iso(t), "pue": None, "coverage": 0.0, "renewable_share": None})
        else:
            share = row[8]
            pts.append({"t": iso(t), "pue": round(pue, 4), "coverage": round(cov, 4),
                        "renewable_share": None if share is None else round(share + 0.05 * math.sin(k / 5), 4)})
        t += step
        k += 1
    return {"facility": fid, "window": window, "step": q.get("step", ["1h"])[0], "ceiling": CEILING[row[5]],
            "min_coverage": 0.9, "points": pts}


def alerts():
    n = now()
    return [
        {"name": "PueAboveCeiling", "labels": {"alertname": "PueAboveCeiling", "facility": "jiujiang-1", "window": "365d", "tier": "supplementary", "severity": "critical"},
         "annotations": {"summary": "Jiujiang Data Centre: PUE(365d) 1.342 above ceiling 1.30", "summary_zh": "九江数据中心：年度 PUE 1.342 超过上限 1.30"},
         "state": "firing", "since": iso(n - timedelta(days=12)), "value": 1.342},
        {"name": "PueAboveCeiling", "labels": {"alertname": "PueAboveCeiling", "facility": "jiujiang-1", "window": "24h", "tier": "supplementary", "severity": "warning"},
         "annotations": {"summary": "Jiujiang Data Centre: PUE(24h) 1.371 above ceiling 1.30", "summary_zh": "九江数据中心：24 小时 PUE 1.371 超过上限 1.30"},
         "state": "firing", "since": iso(n - timedelta(hours=5)), "value": 1.371},
        {"name": "MeterStale", "labels": {"alertname": "MeterStale", "facility": "fuzhou-1", "meter": "grid-in", "tier": "backup", "severity": "warning"},
         "annotations": {"summary": "Fuzhou: meter grid-in silent for 3h", "summary_zh": "抚州：电表 grid-in 已 3 小时无读数"},
         "state": "firing", "since": iso(n - timedelta(hours=3)), "value": 10800},
        {"name": "CoverageBelowMinimum", "labels": {"alertname": "CoverageBelowMinimum", "facility": "yingtan-1", "window": "365d", "tier": "backup", "severity": "warning"},
         "annotations": {"summary": "Yingtan: coverage(365d) 61.0% below 90%", "summary_zh": "鹰潭：年度数据覆盖率 61.0% 低于 90%"},
         "state": "pending", "since": iso(n - timedelta(minutes=20)), "value": 0.61},
    ]


def history(q):
    n = now()
    rows = []
    for i, (fid, name, win) in enumerate([("jiujiang-1", "PueAboveCeiling", "24h"), ("nanchang-1", "PueAboveCeiling", "24h"),
                                          ("shangrao-1", "CoverageBelowMinimum", "24h"), ("nanchang-1", "PueImplausible", "1h"),
                                          ("ganzhou-1", "MeterStale", None), ("jiujiang-1", "PueAboveCeiling", "24h")]):
        since = n - timedelta(days=3 * i + 2, hours=i)
        labels = {"alertname": name, "facility": fid, "tier": "core" if fid == "nanchang-1" else "supplementary", "severity": "warning"}
        if win:
            labels["window"] = win
        else:
            labels["meter"] = "it-a"
        rows.append({"name": name, "labels": labels,
                     "annotations": {"summary": f"{fid}: {name}, \"quoted\", with comma", "summary_zh": f"{fid}：{name}"},
                     "since": iso(since), "resolved_at": iso(since + timedelta(hours=4 + i)), "value": 1.31 + i / 100})
    fac = q.get("facility", [""])[0]
    name = q.get("name", [""])[0]
    since = q.get("since", [""])[0]
    if fac:
        rows = [r for r in rows if r["labels"]["facility"] == fac]
    if name:
        rows = [r for r in rows if r["name"] == name]
    if since:
        s = parse_ts(since)
        rows = [r for r in rows if parse_ts(r["resolved_at"]) >= s]
    return rows


class Handler(BaseHTTPRequestHandler):
    def send(self, code, body, ctype):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def json(self, obj):
        if obj is None:
            return self.send(404, b'{"error":"not found"}', "application/json")
        self.send(200, json.dumps(obj, ensure_ascii=False).encode(), "application/json")

    def do_GET(self):
        u = urlparse(self.path)
        q = parse_qs(u.query)
        p = u.path
        files = {"/": ("index.html", "text/html; charset=utf-8"), "/assets/app.js": ("app.js", "text/javascript"),
                 "/assets/app.css": ("app.css", "text/css"), "/assets/favicon.svg": ("favicon.svg", "image/svg+xml")}
        if p in files:
            name, ctype = files[p]
            with open(os.path.join(ROOT, name), "rb") as fh:
                return self.send(200, fh.read(), ctype)
        if p == "/api/v1/facilities":
            return self.json([facility(r) for r in FACILITIES])
        if p == "/api/v1/alerts":
            return self.json(alerts())
        if p == "/api/v1/alerts/history":
            return self.json(history(q))
        parts = p.strip("/").split("/")
        if len(parts) == 4 and parts[:3] == ["api", "v1", "facilities"]:
            return self.json(detail(parts[3]))
        if len(parts) == 5 and parts[:3] == ["api", "v1", "facilities"] and parts[4] == "series":
            return self.json(series(parts[3], q))
        self.send(404, b"not found", "text/plain")

    def log_message(self, *a):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()

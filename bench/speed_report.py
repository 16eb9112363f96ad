"""docs/benchmarks.md parts for issue 16's measurements: the stage table (section 2), the min_face_size rule
(section 8), the targets of the service as shipped (sections 9 and 10). Pure formatting."""

from __future__ import annotations

from typing import Any

from bench.report import fmt, met, pct, table


def stages(r: dict[str, Any]) -> str:
    rows = [[x["frame"], x["stage"], fmt(x["ms"], 2)] for x in r["rows"]]
    return (f"**Stages**, median of {r['repeat']} calls each, one at a time in process; {r['threads']}.\n\n"
            + table(["frame", "stage", "ms"], rows, text_columns=2))


def rule(r: dict[str, Any]) -> str:
    return ("**The min_face_size rule** (`yunet`): faces of exactly each size (real heads, tilted up to 15 degrees, "
            "plain and real backgrounds); recall at IoU >= 0.5 of the faces at or above min_face_size. The detection "
            "scale is 20 / min_face_size (YuNet-s finds faces of 20 px), or less where detect_max_side bounds it.\n\n"
            + r["table"])


def speed(r: dict[str, Any]) -> str:
    rows = []
    for name, p in r["photos"].items():
        h = p["http"]
        rows.append([f"{name} ({p['bytes']:,} bytes)", fmt(h["median_ms"], 2), fmt(h["p95"], 2), fmt(p["fer_ms"], 1),
                     fmt(p["x_fer"], 1, "x"), f">= {p['target']:g}x", met(p["met"])])
    if v := r.get("vga_min_face_40"):
        vga = r["photos"]["640x480-1face"]
        rows.append(["640x480-1face, ?min_face_size=40 (detected at half size)", fmt(v["http"]["median_ms"], 2),
                     fmt(v["http"]["p95"], 2), fmt(vga["fer_ms"], 1), fmt(v["x_fer"], 1, "x"), "-", "-"])
    t = r["twelve_mp"]
    w, h = t["size"]
    rows.append([f"{w}x{h} ({t['bytes']:,} bytes)", fmt(t["http"]["median_ms"], 2), fmt(t["http"]["p95"], 2),
                 f"cv2.imdecode {fmt(t['imdecode_full_ms'], 1)}", "-", "<= full cv2.imdecode", met(t["met"])])
    parts = [f"One worker process (the shipped default), default settings; sequential requests over one kept-alive "
             f"connection, {r['repeat']} per photo (12 MP: fewer), after a warm-up. fer: its in-process time on the "
             f"decoded photo ({r.get('fer_source', 'section 3')}). A 12 MP JPEG decoded by `cv2.imdecode` with "
             f"IMREAD_REDUCED_COLOR_4 takes {fmt(t['imdecode_reduced_4_ms'], 1)} ms.\n\n"
             + table(["photo", "HTTP median ms", "p95 ms", "fer ms", "fer / ours", "target", "met"], rows)]
    crow = []
    for label, runs in (("every core for a lone request (default)", r["concurrency"]["default"]),
                        ("one thread per detection", r["concurrency"]["one_thread"])):
        for x in runs:
            crow.append([label, str(x["concurrency"]), fmt(x["requests_per_s"], 1), fmt(x["latency_ms"]["p50"], 1),
                         fmt(x["latency_ms"]["p95"], 1), str(x["errors"])])
    parts.append(f"**Threads**, the 640x480 photo, {r['seconds']:g} s per row (httpx client on the same cores):\n\n"
                 + table(["detector threads", "concurrency", "requests/s", "p50 ms", "p95 ms", "errors"], crow, 2))
    ws = r["websocket"]
    parts.append(f"**One WebSocket stream** of 640x480 frames, lockstep: {fmt(ws['fps_per_stream'], 1)} fps, p50 "
                 f"{fmt(ws['latency_ms']['p50'], 1)} ms, p95 {fmt(ws['latency_ms']['p95'], 1)} ms, errors "
                 f"{ws['errors']}; target >= {ws['target']['fps']:g} fps and p95 <= {ws['target']['p95_ms']:g} ms: "
                 f"{met(ws['met'])}.")
    return "\n\n".join(parts)


def target_rows(s: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = []
    if (r := s.get("speed")) and "photos" in r:
        for name, p in r["photos"].items():
            rows.append(["9. HTTP vs fer", f"/predict {name.split('-')[0]} sequential >= {p['target']:g}x fer in "
                         "process", f"{fmt(p['http']['median_ms'], 1)} ms vs {fmt(p['fer_ms'], 1)} ms: "
                         f"{fmt(p['x_fer'], 1, 'x')}", met(p["met"])])
        m = r["moonshot"]
        rows.append(["9. HTTP vs fer", f"moonshot: 640x480 >= {m['target']:g}x", "", met(m["met"])])
        t = r["twelve_mp"]
        rows.append(["9. 12 MP", "end to end over HTTP <= a full-size cv2.imdecode of the same bytes",
                     f"{fmt(t['http']['median_ms'], 1)} ms vs {fmt(t['imdecode_full_ms'], 1)} ms", met(t["met"])])
        ws = r["websocket"]
        rows.append(["9. WebSocket", f"one stream (1 worker) >= {ws['target']['fps']:g} fps, p95 <= "
                     f"{ws['target']['p95_ms']:g} ms", f"{fmt(ws['fps_per_stream'], 1)} fps, p95 "
                     f"{fmt(ws['latency_ms']['p95'], 1)} ms", met(ws["met"])])
    if (r := s.get("memory_shipped")) and "samples" in r:
        rows.append(["10. memory", f"as shipped (1 worker) <= {r['target_mb']:g} MB PSS, no growth trend",
                     f"peak {r['peak_pss_mb']:.0f} MB PSS, second-half growth {pct(r.get('growth_second_half'))}",
                     met(r["met"])])
    return rows

"""docs/benchmarks.md from a results dict: the machine, a summary of the targets, and one short table per
section. Pure formatting: every number comes from the sections' results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def fmt(value: Any, digits: int = 1, suffix: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{suffix}"
    return f"{value}{suffix}"


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def met(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "**no**")


def table(head: list[str], rows: list[list[str]], text_columns: int = 1) -> str:
    """A markdown table: the first ``text_columns`` columns left-aligned, numbers right-aligned."""
    align = ["---"] * text_columns + ["---:"] * (len(head) - text_columns)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def ceiling(r: dict[str, Any]) -> str:
    rows = [[str(x["batch"]), fmt(x["service_faces_per_s"], 0), fmt(x["bare_faces_per_s"], 0), fmt(x["ratio"], 3),
             met(x["met"])] for x in r["rows"]]
    return (f"Model `{r['model']}`, onnxruntime intra-op threads {r['ort_intra_threads']}, real FER2013 PrivateTest "
            f"faces; {r['rounds']} alternating rounds, median.\n\n"
            + table(["batch", "service faces/s (crops + classify)", "bare session.run faces/s", "ratio",
                     "target >= 0.9"], rows))


def latency(r: dict[str, Any]) -> str:
    rows = [[f"`{x['model']}`", fmt(x.get("arch")),
             fmt(x.get("params"), 0) if x.get("params") is None else f"{x['params']:,}",
             fmt(x["ms_per_face_batch1"], 2), fmt(x["ms_per_face_batch16"], 2)] for x in r["rows"]]
    text = (f"`{r['session']}`, median of {r['repeat']} runs. {sentence(r['note'])}.\n\n"
            + table(["model", "architecture", "parameters", "ms / face, batch 1", "ms / face, batch 16"], rows, 2))
    if r["problems"]:
        text += "\n\nNot measured: " + "; ".join(r["problems"])
    return text


def pipeline(r: dict[str, Any]) -> str:
    parts = [f"JPEG quality {r['jpeg_quality']}, median of {r['repeat']} runs per photo; {r['threads']}. "
             f"images/s = photos / sum of their median total times. Recall: {r['note']}."]
    for name, d in r["detectors"].items():
        rows = [[size, str(s["images"]), f"{pct(s['recall'])} ({s['found']}/{s['faces']})", str(s["false_positives"]),
                 fmt(s["images_per_s"], 1), *(fmt(s["ms"][k], 1) for k in ("decode", "detect", "classify", "total"))]
                for size, s in d["sizes"].items()]
        parts.append(f"**{name}**\n\n" + table(["frame", "photos", "recall (IoU >= 0.5)", "false pos.", "images/s",
                                                 "decode ms", "detect ms", "classify ms", "total ms"], rows))
    if "stages" in r:
        parts.append(_speed().stages(r["stages"]))
    return "\n\n".join(parts)


def peer(r: dict[str, Any]) -> str:
    if not r.get("available"):
        return f"**Not run**: {r.get('reason', 'unknown reason')}."
    parts = [f"`fer` {r['fer_version']} (TensorFlow {r['tensorflow_version']}) in `bench/.venv-fer`, "
             f"{r['fer_settings']}; median of {r['repeat']} runs per photo. {sentence(r['timing_note'])}. "
             f"Target: ours/fer >= {r['target_speedup']:g}x at a recall >= fer's."]
    for name, sizes in r["comparison"].items():
        rows = [[size, fmt(c["ours_images_per_s"], 1), fmt(c["fer_images_per_s"], 1), fmt(c["speedup"], 2, "x"),
                 pct(c["ours_recall"]), pct(c["fer_recall"]), met(c["met"])] for size, c in sizes.items()]
        parts.append(f"**ours ({name}) vs fer**\n\n" + table(
            ["frame", "ours images/s", "fer images/s", "ours/fer", "ours recall", "fer recall", "target met"], rows))
    return "\n\n".join(parts)


def http(r: dict[str, Any]) -> str:
    rows = [[str(x["concurrency"]), str(x["requests"]), fmt(x["requests_per_s"], 1),
             *(fmt(x["latency_ms"][q], 1) for q in ("p50", "p95", "p99")), str(x["errors"]),
             pct(x["of_in_process"])] for x in r["rows"]]
    return (f"{r['workers']} worker processes, {r['seconds']:g} s per concurrency, the 640x480 one-face photo "
            f"({r['photo_bytes']:,} bytes). In-process pipeline on that photo: {r['in_process_images_per_s']:.1f} "
            f"images/s. Target: at concurrency {r['target_concurrency']}, >= {r['target']:.0%} of it: "
            f"{met(r['met'])}. {sentence(r['note'])}.\n\n"
            + table(["concurrency", "requests", "requests/s", "p50 ms", "p95 ms", "p99 ms", "errors",
                     "of in-process"], rows))


def websocket(r: dict[str, Any]) -> str:
    variants = [("1 stream, lockstep", r["one_stream"]), (f"{r['many_streams']['streams']} streams, lockstep",
                                                          r["many_streams"]), ("1 stream, flood", r["flood"])]
    rows = [[name, fmt(v["fps_total"], 1), fmt(v["fps_per_stream"], 1), str(v["processed"]),
             str(v["dropped"]) + (f" of {v['sent']}" if "sent" in v else ""), fmt(v["latency_ms"]["p50"], 1),
             fmt(v["latency_ms"]["p95"], 1), str(v["errors"])] for name, v in variants]
    t = r["target"]
    return (f"{r['workers']} worker processes, {r['seconds']:g} s per variant, 640x480 one-face JPEG frames. "
            f"Target: one stream >= {t['fps']:g} fps with p95 <= {t['p95_ms']:g} ms: {met(r['met'])}. "
            "The flood sender competes with the server for the same cores.\n\n"
            + table(["variant", "fps (all streams)", "fps per stream", "answered", "dropped", "p50 ms", "p95 ms",
                     "errors"], rows))


def memory(r: dict[str, Any]) -> str:
    rows = [[f"{s['requests']:,}", fmt(s.get("pss_mb"), 1), fmt(s["rss_mb"], 1), fmt(s["largest_process_mb"], 1)]
            for s in r["samples"]]
    processes = f"{r['workers']} worker process" + ("es" if r["workers"] != 1 else "")
    return (f"{processes}, {r['requests']:,} requests at concurrency {r['concurrency']} cycling "
            f"through {r['payloads']} photos; errors {r['errors']}. Peak {r['peak_pss_mb']:.1f} MB PSS for the whole "
            f"process tree (the sum of RSS, which counts shared libraries once per process, peaked at "
            f"{r['peak_rss_mb']:.1f} MB). Growth from the first sample under load to the last "
            f"{pct(r['growth_after_first_sample'])} (warm-up included; slope {fmt(r['slope_mb_per_1000'], 2)} MB "
            f"per 1,000 requests); over the second half of the run {pct(r.get('growth_second_half'))}. "
            f"Target: <= {r['target_mb']:g} MB PSS for the whole process tree and second-half growth <= "
            f"{r['max_growth']:.0%}: {met(r['met'])}.\n\n"
            + table(["requests", "PSS, all processes (MB)", "RSS sum, all processes (MB)", "largest process RSS (MB)"],
                    rows))


def parse(r: dict[str, Any]) -> str:
    return table(["rows", "vectorised parse s", "notebook parse s", "speed-up", "full load + validation s"],
                 [[f"{r['rows']:,}", fmt(r["vectorised_parse_s"], 3), fmt(r["notebook_parse_s"], 3),
                   fmt(r["parse_speedup"], 1, "x"), fmt(r["full_load_and_validate_s"], 3)]])


def detectors(r: dict[str, Any]) -> str:
    photos = ", ".join(f"{n} {group}" for group, n in r["photos"].items())
    text = (f"`bench/detection_eval.py`: photos {photos}, {r['faces']} faces, min face size "
            f"{r['min_face_size']} px; each detector as the service runs it; `yuface (before)`: libfacedetection "
            "itself, as the service ran it before (downscaled to 640 px).\n\n" + r["table"])
    return text + ("\n\n" + _speed().rule(r["rule"]) if "rule" in r else "")


def _speed() -> Any:
    from bench import speed_report  # it formats with this module's helpers

    return speed_report


def _tracking() -> Any:
    from bench import stream_tracking

    return stream_tracking


def batch(r: dict[str, Any]) -> str:
    from bench import batch_throughput

    return batch_throughput.render(r)


RENDERERS: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "classifier_ceiling": ("1. Classifier ceiling", ceiling),
    "model_latency": ("1b. Model latency", latency),
    "pipeline": ("2. Pipeline, in process", pipeline),
    "peer": ("3. Peer: the `fer` package, same photos", peer),
    "http": ("4. HTTP `/predict`", http),
    "websocket": ("5. WebSocket `/ws/stream`", websocket),
    "memory": ("6. Memory", memory),
    "parse": ("7. Training data load", parse),
    "detectors": ("8. Face detectors side by side", detectors),
    "batch": ("11. fer-batch: photos labelled per second, every route", batch),
    "speed": ("9. The service as shipped: HTTP and WebSocket speed", lambda r: _speed().speed(r)),
    "memory_shipped": ("10. The service as shipped: memory", memory),
    "tracking": ("12. One stream that follows people: detection only when needed", lambda r: _tracking().render(r)),
}


def section(key: str, result: dict[str, Any]) -> str:
    title, render = RENDERERS[key]
    if "error" in result:
        return f"## {title}\n\n**Failed**: {result['error']}\n"
    return f"## {title}\n\n{render(result)}\n"


def targets(s: dict[str, dict[str, Any]]) -> list[list[str]]:
    """One row per target whose section ran: what it asks, what was measured, whether it is met."""
    rows = []
    if (r := s.get("classifier_ceiling")) and "rows" in r:
        worst = min(r["rows"], key=lambda x: x["ratio"] or 0)
        rows.append(["1. classifier ceiling", "service >= 0.9 x bare onnxruntime, every batch",
                     f"lowest {fmt(worst['ratio'], 3)} (batch {worst['batch']})",
                     met(all(x["met"] for x in r["rows"]))])
    if (r := s.get("peer")) and r.get("available"):
        c = r["comparison"][next(iter(r["comparison"]))]["all"]
        rows.append(["3. vs fer", f">= {r['target_speedup']:g}x fer's images/s at >= fer's recall (default detector)",
                     f"{fmt(c['speedup'], 2, 'x')}, recall {pct(c['ours_recall'])} vs {pct(c['fer_recall'])}",
                     met(c["met"])])
    if (r := s.get("http")) and "rows" in r:
        at = next((x for x in r["rows"] if x["concurrency"] == r["target_concurrency"]), None)
        errors = sum(x["errors"] for x in r["rows"])
        rows.append(["4. HTTP", f"concurrency {r['target_concurrency']} >= {r['target']:.0%} of in-process images/s",
                     pct(at["of_in_process"]) if at else "-", met(r["met"])])
        rows.append(["4. HTTP", "no errors", str(errors), met(errors == 0)])
    if (r := s.get("websocket")) and "one_stream" in r:
        one = r["one_stream"]
        rows.append(["5. WebSocket", f"one stream >= {r['target']['fps']:g} fps, p95 <= {r['target']['p95_ms']:g} ms",
                     f"{fmt(one['fps_per_stream'], 1)} fps, p95 {fmt(one['latency_ms']['p95'], 1)} ms", met(r["met"])])
    if (r := s.get("memory")) and "samples" in r:
        rows.append(["6. memory", f"<= {r['target_mb']:g} MB (process tree, PSS), no growth trend",
                     f"peak {r['peak_pss_mb']:.0f} MB PSS ({r['peak_rss_mb']:.0f} MB RSS sum), "
                     f"second-half growth {pct(r.get('growth_second_half'))}", met(r["met"])])
    return rows + _speed().target_rows(s)


def _others(results: dict[str, Any]) -> str:
    """', the rest of the machine N cores on average' per piece of the run, from the CPU time others used."""
    known = {k: v for k, v in (results.get("other_processes_cores") or {}).items() if v is not None}
    if not known:
        return ""
    parts = [f"{v:.2f} cores" + (f" (sections {k})" if len(known) > 1 else "") for k, v in known.items()]
    return f"; other processes used {', '.join(parts)} on average while it ran (the bench's own load excluded)"


def document(results: dict[str, Any]) -> str:
    m, load = results["machine"], results["load_1min"]
    lines = ["# Benchmarks", "",
             f"Generated by `python -m bench` (`make bench`) on {results['date']} from commit "
             f"`{results['commit']}`; the raw numbers are in `{results['json']}`. Generated: do not edit by hand.", ""]
    if results["quick"]:
        lines += ["> **Quick mode** (`--quick`): short durations and few photos, to check that the bench runs. "
                  "These numbers are not the service's figures.", ""]
    if results["busy_note"]:
        lines += [f"> **Busy machine.** {results['busy_note']}", ""]
    cpu = f"{m['cpu']} ({m['isa']})" if m.get("isa") else m["cpu"]
    lines += [f"Machine: {cpu}, {m['cores']} cores, {fmt(m['ram_gb'], 1)} GB RAM, Python {m['python']}. "
              f"1-minute load average {load['start']:.2f} at the start, {load['end']:.2f} at the end"
              f"{_others(results)}. "
              f"Sections run: {', '.join(results['sections_run'])}.", ""]
    if rows := targets(results["sections"]):
        lines += ["## Targets", "", table(["section", "target", "measured", "met"], rows, text_columns=3), ""]
    if results.get("plot"):
        lines += [f"![images/s per frame size, HTTP latency, memory]({results['plot']})", ""]
    lines += [section(key, r) for key, r in results["sections"].items()]
    return "\n".join(lines)

"""``fer-serve [--host] [--port] [--model PATH] [--workers N]``: run the service with uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping

from service.logs import configure_logging, logging_config


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fer-serve", description=__doc__)
    p.add_argument("--host", default=os.environ.get("FER_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("FER_PORT", "8000")))
    p.add_argument("--model", default=None, help="ONNX model (default: $FER_MODEL_PATH or the shipped model)")
    p.add_argument("--workers", type=int, default=int(os.environ.get("FER_WORKERS", "1")),
                   help="server processes (default $FER_WORKERS or 1)")
    return p


CLI_VARIABLES = {"FER_HOST", "FER_PORT", "FER_WORKERS", "FER_API_KEY"}  # read here and by fer-stream


def unknown_settings(environ: Mapping[str, str]) -> list[str]:
    """FER_* variables that no setting reads: a typo would otherwise be silently ignored."""
    from service.config import Settings

    known = {f"FER_{name.upper()}" for name in Settings.model_fields} | CLI_VARIABLES
    return sorted(k for k in environ if k.startswith("FER_") and k not in known)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.model:
        os.environ["FER_MODEL_PATH"] = args.model  # read by every worker's Settings()
    import uvicorn

    from service.config import Settings

    try:
        settings = Settings()
    except ValueError as exc:  # pydantic ValidationError: one clear message, no traceback
        print(f"fer-serve: invalid configuration: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    for name in unknown_settings(os.environ):
        logging.getLogger("fer-serve").warning("ignoring unknown setting %s (a typo?)", name)
    uvicorn.run(
        "service.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
        log_config=logging_config(settings.log_level), ws_max_size=settings.ws_max_message_bytes + 1024,
        timeout_graceful_shutdown=30,
        proxy_headers=False, server_header=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""create_app(settings): the FastAPI application, its lifespan (model + detector loaded once) and middleware.

    uvicorn --factory service.app:create_app      # settings from FER_* environment variables
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import cv2
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from service.allocator import release_free_memory, tune_allocator
from service.catalog import choose_default, load_classifiers, model_files
from service.classifier import ModelLoadError
from service.config import Settings
from service.detectors import create_detector
from service.errors import install_handlers
from service.logs import RequestIdMiddleware
from service.metrics import HttpMetricsMiddleware, Metrics
from service.pipeline import Pipeline
from service.replica import name_replica
from service.routes import health, info, predict, stream, web
from service.runner import InferenceRunner
from service.state import ServiceState

log = logging.getLogger(__name__)


def load_pipelines(settings: Settings) -> tuple[dict[str, Pipeline], str]:
    """(a pipeline per served model, all sharing one detector; the default model's name): service/catalog.py."""
    files = model_files(settings.model_path, settings.models, settings.models_dir)
    classifiers = load_classifiers(files, settings.ort_intra_threads, settings.ort_inter_threads,
                                   settings.classifier_idle_threads)
    default = choose_default({n: c.contract for n, c in classifiers.items()}, settings.default_model,
                             settings.default_max_latency_ms)
    if settings.preload_models == "default":
        for name, classifier in classifiers.items():
            if name != default:
                classifier.release()  # checked; opened again by its first request
    classifiers[default].parallel_session()  # opened now: the first lone request should not wait for it
    detector = create_detector(settings)
    release_free_memory()
    pipelines = {name: Pipeline(detector, c, settings.max_image_pixels, settings.align_faces)
                 for name, c in classifiers.items()}
    return pipelines, default


def load_pipeline(settings: Settings) -> Pipeline:
    """The default model's pipeline (for one-model users: fer-batch, benchmarks)."""
    pipelines, default = load_pipelines(settings)
    return pipelines[default]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    state = ServiceState(settings=settings, metrics=Metrics())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        cv2.setNumThreads(settings.opencv_threads)
        if settings.tune_malloc:
            tune_allocator()
        state.runner = InferenceRunner(settings.workers_threads, settings.max_pending)
        try:
            state.pipelines, state.default_model = load_pipelines(settings)
        except (ModelLoadError, ValueError, RuntimeError) as exc:
            state.problem = str(exc)
            log.error("NOT READY: %s", exc)
            if settings.require_model:
                raise RuntimeError(f"refusing to start without a model (FER_REQUIRE_MODEL): {exc}") from None
        else:
            state.problem = None
            for name, pipeline in state.pipelines.items():
                c = pipeline.classifier.contract
                log.info("ready: model %s %s (%s) from %s, detector %s%s", c.name, c.version, ", ".join(c.labels),
                         pipeline.classifier.path, pipeline.detector.name,
                         " (default)" if name == state.default_model else "")
                state.metrics.model.labels(c.name, c.version, pipeline.detector.name).set(1)
        state.metrics.ready.set(1 if state.ready else 0)
        try:
            yield
        finally:
            state.runner.shutdown()

    app = FastAPI(
        title="FER service",
        version="0.1.0",
        description="Facial expression recognition: face detection (OpenCV) and emotion classification "
                    "(onnxruntime) for uploaded photos and WebSocket frame streams.",
        lifespan=lifespan,
    )
    app.state.service = state
    install_handlers(app)
    for module in (health, info, predict, stream, web):
        app.include_router(module.router)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["*"], expose_headers=["X-Request-ID"])
    app.add_middleware(HttpMetricsMiddleware, metrics=state.metrics)
    app.add_middleware(RequestIdMiddleware)
    name_replica(app, settings.replica_name, state.metrics.registry)  # X-FER-Replica on every answer
    return app

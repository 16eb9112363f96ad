# Images: `runtime` (default, last stage): the service + the shipped models only (onnxruntime, OpenCV
# headless, FastAPI; no TensorFlow, no compilers). `train`: fer-train with TensorFlow, for
# `docker compose --profile train`. Configuration is only through FER_* environment variables.

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
WORKDIR /app

# ---- build: a virtual environment with the service's dependencies (read from pyproject.toml) ----
FROM base AS build
COPY pyproject.toml ./
# Then drop what the service never loads: pip itself, tests, other Haar cascades, ORT's Python tools.
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['service']))" > requirements.txt \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-compile -r requirements.txt
WORKDIR /opt/venv/lib/python3.11/site-packages
RUN rm -rf pip* setuptools* pkg_resources _distutils_hack distutils-precedence.pth \
      numpy/*/tests numpy/tests numpy/typing/tests \
      onnxruntime/transformers onnxruntime/quantization onnxruntime/tools onnxruntime/datasets \
 && find cv2/data -name '*.xml' ! -name 'haarcascade_frontalface_default.xml' -delete \
 && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +

# ---- slim: the base image minus what a running service never uses (pip, docs, locales, apt state) ----
FROM base AS slim
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN rm -rf /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/locale/* \
      /var/cache/* /var/lib/apt/lists/* \
 && python -c "import site; print('\n'.join(site.getsitepackages() + ['/usr/lib/python3/dist-packages']))" \
    | while read -r d; do rm -rf "$d"/pip* "$d"/setuptools* "$d"/wheel* "$d"/pkg_resources "$d"/_distutils_hack; done \
 && useradd --system --uid 10001 --user-group --home-dir /nonexistent --no-create-home fer

# ---- train: fer-train with TensorFlow (opt-in: docker compose --profile train) ----
FROM base AS train
COPY pyproject.toml README.md model_contract.py ./
COPY training ./training
COPY service ./service
COPY scripts/train-and-export.sh /usr/local/bin/train-and-export
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-compile ".[train]" \
 && useradd --system --uid 10001 --user-group --home-dir /nonexistent --no-create-home fer
ENV PATH=/opt/venv/bin:$PATH
USER 10001:10001
ENTRYPOINT ["train-and-export"]

# ---- runtime (default): the service and the shipped models, flattened onto the slimmed base ----
FROM scratch AS runtime
# One flattened layer: copying the slimmed base is what actually drops pip, docs and locales
# (deleting them in a layer on top of the base would not make the image smaller).
# hadolint ignore=DL3067
COPY --from=slim / /
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY model_contract.py ./
COPY service ./service
# Every shipped model (the service serves them all; ?model=NAME picks one) with its card, and the detectors.
COPY models/*.onnx models/*.md ./models/
COPY models/detectors ./models/detectors
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    FER_MODELS_DIR=/app/models \
    FER_HOST=0.0.0.0 \
    FER_PORT=8000 \
    FER_WORKERS=1
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('FER_PORT', '8000'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/readyz', timeout=2).status == 200 else 1)"]
CMD ["python", "-m", "service.cli"]

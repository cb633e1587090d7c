# prodml's API server: a slim image, a non-root user, a health check.
#   docker build -t prodml .
#   docker run -p 8000:8000 -v "$PWD:/project" -e PRODML_TOKEN=<an operator token> \
#     prodml serve flights-delay@champion
# Callers need tokens too (governance.auth is on in the image: it listens beyond loopback).
# Settings come from /project/prodml.yaml and PRODML_* variables (see `prodml init`).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY examples ./examples
RUN pip install --no-cache-dir --prefix=/install ".[postgres,redis,nats,s3,compiled]"

FROM python:3.11-slim
# libgomp: LightGBM's OpenMP runtime. --build-arg COMPILER=gcc adds a C compiler (about
# 200 MB), with which the server compiles a model's trees for faster one-row requests.
ARG COMPILER=""
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 ${COMPILER:+$COMPILER libc6-dev} \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 prodml
COPY --from=build /install /usr/local
USER 10001
WORKDIR /project
ENV PRODML_SERVING__HOST=0.0.0.0 \
    PRODML_GOVERNANCE__AUTH=true \
    PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["prodml"]
CMD ["serve"]

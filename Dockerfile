# syntax=docker/dockerfile:1
# snnd: the spiking-neural-network inference daemon, as a container image.
#
#   docker build -t snnd:0.1.0 .
#   docker run --rm -p 8080:8080 snnd:0.1.0          # http://localhost:8080/
#
# Two stages on Debian bookworm. The build stage runs exactly what CI runs
# natively: tools/install-deps.sh (one package list for CI, developers and
# this file) and make. The runtime stage installs only the shared libraries
# (tools/install-deps.sh --runtime), copies the binaries, the model
# repository and the config, and runs snnd as an unprivileged user on
# 0.0.0.0:8080 serving the shipped default model (cifar10, config/snnd.json).
#
# Override at run time (precedence: config file < SNND_* env < flags):
#   -v /my/models:/srv/snnd/models:ro          model repository
#   -v /my/snnd.json:/etc/snnd/snnd.json:ro    config file (or SNND_CONFIG=...)
#   -e SNND_DEFAULT_MODEL=fashion-mnist -e SNND_WORKERS=4 ...   any option
#   docker run snnd:0.1.0 --max-batch 16       flags go to snnd (exec form)
# The image sets no admin token: on 0.0.0.0 the admin endpoints (model
# load/unload, /v1/config) answer 403 until one is given at run time,
#   -e SNND_ADMIN_TOKEN="$(openssl rand -hex 32)"    (docs/deploy.md)
# SIGTERM reaches snnd directly (exec-form ENTRYPOINT, PID 1): readiness
# turns 503, in-flight work drains for drain-timeout-ms (10 s), exit 0; give
# `docker stop -t 15` or a compose stop_grace_period above that.
# tests/ecosystem/dockerfile.mjs lints this file and replays its build steps.

FROM debian:bookworm AS build
WORKDIR /src
COPY tools/install-deps.sh tools/install-deps.sh
RUN tools/install-deps.sh
COPY . .
RUN make

FROM debian:bookworm-slim AS runtime
COPY tools/install-deps.sh /usr/local/share/snnd/install-deps.sh
RUN /usr/local/share/snnd/install-deps.sh --runtime && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 snnd \
 && useradd --system --uid 10001 --gid snnd --home-dir /srv/snnd --no-create-home \
        --shell /usr/sbin/nologin snnd \
 && mkdir -p /srv/snnd /etc/snnd
COPY --from=build /src/build/snnd /src/build/snnctl /usr/local/bin/
COPY --from=build /src/models /srv/snnd/models
COPY --from=build /src/config/snnd.json /etc/snnd/snnd.json
WORKDIR /srv/snnd
ENV SNND_CONFIG=/etc/snnd/snnd.json \
    SNND_HOST=0.0.0.0 \
    SNND_PORT=8080 \
    SNND_MODELS=/srv/snnd/models
USER 10001:10001
EXPOSE 8080
# Liveness without curl (not in the runtime set): bash's /dev/tcp speaks
# HTTP/1.0 to /healthz and wants a 200 status line.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${SNND_PORT:-8080} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/snnd"]
CMD []

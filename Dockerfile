# syntax=docker/dockerfile:1
#
# xmpp-push container image.
#
#   docker build -t xmpp-push:0.1.0 .
#   docker run --rm -p 8080:8080 -e XMPP_PUSH_COMPONENT_SERVICE=xmpp://xmpp.example.org:5347 \
#     -e XMPP_PUSH_COMPONENT_DOMAIN=push.example.org -e XMPP_PUSH_COMPONENT_SECRET_FILE=/run/secrets/component \
#     -e DATABASE_URL_FILE=/run/secrets/database-url xmpp-push:0.1.0
#
# Three stages: `build` compiles TypeScript with the dev dependencies, `deps` installs the production
# dependencies only, and the runtime stage gets dist/, those node_modules and package.json (which says
# "type": "module"; Node needs it to load dist/ as ES modules). No compiler, no tsx/esbuild, no npm cache.

# Node 24 LTS, pinned by digest so a rebuild gets the same bytes (this digest is node 24.18.0). To move to
# the newest 24.x patch release:
#   docker buildx imagetools inspect node:24-bookworm-slim --format '{{json .Manifest.Digest}}'
# (or `docker pull node:24-bookworm-slim && docker inspect --format '{{index .RepoDigests 0}}' node:24-bookworm-slim`)
# and put the printed sha256 here; test/unit/deploy/dockerfile.test.ts checks the form.
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d

# ---- build: npm ci (dev dependencies included) and tsc -> dist/src, dist/migrations -------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the only install script in the lock file is esbuild's (a tsx dev dependency that the
# build does not use); npm 11 may print a warning about skipped install scripts, which is harmless.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
RUN npm run build \
 && test -f dist/src/cli/main.js \
 && test -d dist/migrations

# ---- deps: production node_modules only --------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# ---- runtime ----------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

ARG NODE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=""
ARG SOURCE=""
LABEL org.opencontainers.image.title="xmpp-push" \
      org.opencontainers.image.description="XEP-0357 push app server: XMPP component that wakes phones through APNs, JPush and FCM" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"

# A dedicated user, uid/gid 10001 (not the image's `node` user, uid 1000, which often collides with a
# real user on the host). USER is numeric so that Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 xmpp-push \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/xmpp-push --no-create-home \
      --shell /usr/sbin/nologin xmpp-push \
 && mkdir -p /var/lib/xmpp-push \
 && chown 10001:10001 /var/lib/xmpp-push \
 && chmod 0750 /var/lib/xmpp-push

WORKDIR /app
# Code and dependencies stay owned by root: the server cannot modify itself.
COPY --from=deps /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./

# HTTP on all interfaces (the app's default is loopback, useless in a container); the embedded database
# (PGlite, used when DATABASE_URL is unset) lives in the volume.
# A heap cap keeps the resident size small under load: the live heap stays near 40 MB even at full
# throughput, but V8 grows an uncapped heap far beyond it. A 4 MB young generation semi-space costs
# more (cheap) scavenges and saves ~30 MB of RSS at full load (npm run bench measures these settings).
# 96 MiB is the small-footprint default for `docker run`; it does NOT hold a long database outage's full
# audit backlog (100,000 rows: ~99 MiB heap used, test/faults/audit-backlog-memory.test.ts). Give the
# container more memory and set NODE_OPTIONS to about half its limit (the Helm chart derives it: nodeHeap).
ENV NODE_ENV=production \
    NODE_OPTIONS="--max-old-space-size=96 --max-semi-space-size=4" \
    XMPP_PUSH_HTTP_HOST=0.0.0.0 \
    XMPP_PUSH_DATA_DIR=/var/lib/xmpp-push

VOLUME ["/var/lib/xmpp-push"]
EXPOSE 8080
USER 10001:10001

# /healthz answers 200 while the process is alive (readiness, i.e. XMPP and database connected, is
# /readyz). Node's own fetch: the slim image has no curl. Follows XMPP_PUSH_HTTP_PORT when it is set.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.XMPP_PUSH_HTTP_PORT||8080)+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# The server handles SIGTERM itself (drains, closes the component connection) and runs as PID 1 fine.
# --liftoff-only (not allowed in NODE_OPTIONS): WebAssembly, i.e. the embedded database, stays on V8's
# baseline compiler. Optimizing PGlite's largest functions took ~600 MB of compiler memory at every
# start (peak RSS 780 MB) and kept ~70 MB; CPU per push at 200/s was the same without it.
# --single-threaded-gc (not allowed in NODE_OPTIONS either): garbage collection on the main thread only.
# V8's GC helper threads compete with the XMPP server and the database for the cores, and the server
# stalls while it waits for them: on 2 cores p99 at 1,000 publishes/s fell from ~11 to ~7 ms and the
# maximum rose by ~8 %, for ~40 MB more RSS at full load (README "Performance").
ENTRYPOINT ["node", "--liftoff-only", "--single-threaded-gc", "/app/dist/src/cli/main.js"]
CMD ["serve"]

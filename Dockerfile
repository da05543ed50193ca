# syntax=docker/dockerfile:1
# Taskhub in a container: `docker build -t taskhub .`, then `docker run -p 8080:8080 -v taskhub-data:/data taskhub`.
# Every setting is a TASKHUB_* environment variable (the same names as the CLI flags; `taskhub serve --help`).
# test/container.test.ts runs this file's runtime steps in a clean temporary folder (this machine cannot pull base
# images): keep the two in step.
ARG NODE_IMAGE=node:24-bookworm-slim

# --- build: compiles src/ to dist/ (JavaScript and declarations) with the repository's locked dev dependencies.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build

# --- runtime: production dependencies only (from the same lock file), the compiled server, a non-root user.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY --from=build /src/dist ./dist
# The SQLite file lives on a volume, owned by the unprivileged `node` user (uid 1000) of the official image.
RUN mkdir -p /data && chown node:node /data
USER node
# Listen beyond loopback (a container's port is reached from outside it), which the server allows only with auth on:
# create API keys with `docker exec CONTAINER node bin/taskhub.js keys create ...`, or set TASKHUB_JWT_SECRET or
# TASKHUB_JWT_PUBLIC_KEY. /healthz and /readyz answer without a token. JSON log lines, for the log collector.
ENV TASKHUB_HOST=0.0.0.0 \
    TASKHUB_PORT=8080 \
    TASKHUB_STORE=sqlite:/data/taskhub.db \
    TASKHUB_AUTH=on \
    TASKHUB_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
# Slim images have no curl: Node's own fetch probes liveness.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.TASKHUB_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node is PID 1 and handles SIGTERM itself (graceful stop, docs/deploy.md). `worker` instead of `serve` runs a worker.
ENTRYPOINT ["node", "bin/taskhub.js"]
CMD ["serve"]

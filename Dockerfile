# spinet gateway image (built and run with podman 4.3 on this project's machines: ~3 min cold,
# 526 MB, serves components/hello, runs as uid 1000, healthy, exits 0 on SIGTERM).
# Stage 1 compiles the TypeScript and builds the bundled guests (componentize-js is a build-time
# tool); stage 2 is a slim runtime with production dependencies only, running as a non-root user.
#
#   docker build -t spinet .
#   docker run --rm -p 3000:3000 spinet                       # serves components/hello
#   docker run --rm -p 3000:3000 -v "$PWD/myapp:/app/apps/myapp:ro" spinet up apps/myapp
#   docker run --rm -p 3000:3000 spinet demo --redis redis://redis-host:6379   # Finicky Whiskers

FROM node:20-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund
COPY tsconfig.json ./
COPY server ./server
COPY components ./components
COPY public ./public
# Only the apps the image serves: hello (the default) and Finicky Whiskers (`demo --redis ...`).
RUN npm run build && npm run build:components -- hello finicky-whiskers \
 && npm prune --omit=dev \
 && find components -mindepth 1 -maxdepth 1 ! -name hello ! -name finicky-whiskers -exec rm -rf {} + \
 && rm -rf components/*/src

FROM node:20-slim AS runtime
# glibc.malloc.hugetlb=1: glibc backs big allocations (a component's 13 MB of bytes, its compiled
# copy) with transparent huge pages where the kernel allows them (THP "madvise" or "always"), so
# reading, hashing and compiling a component fault in 2 MiB pages instead of 4 KiB ones: a new
# component's first request 224-241 -> 167-182 ms on the project's VM, RSS and req/s unchanged
# (bench/RESULTS.md). glibc reads it at process start only, hence here and in `npm start`.
ENV NODE_ENV=production \
    SPINET_LISTEN=0.0.0.0:3000 \
    SPINET_CACHE_DIR=/tmp/spinet-cache \
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/server ./dist/server
COPY --from=build /src/components ./components
COPY --from=build /src/public ./public
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD ["node", "-e", "const port = (process.env.SPINET_LISTEN || '0.0.0.0:3000').split(':').pop(); fetch('http://127.0.0.1:' + port + '/.well-known/spin/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# main.ts handles SIGTERM itself (graceful drain), so node can run as PID 1.
ENTRYPOINT ["node", "dist/server/main.js"]
CMD ["up", "components/hello"]

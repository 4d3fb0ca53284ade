# syntax=docker/dockerfile:1
# Keep in step with scripts/setup: the build stage runs that very script, so the
# image gets exactly the packages a developer machine and CI get.

# --- build ---------------------------------------------------------------------
FROM debian:bookworm AS build
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
# scripts/setup installs the Debian packages (the test ones too, chromium for
# the dashboard's browser test among them) and, since a bare Debian has no
# python3/pip yet, python3 python3-pip python3-dev too; pip then needs
# --break-system-packages (PEP 668), which scripts/setup adds by itself.
# The build tools the server's tests drive come along, as on CI: Debian's
# bazel-bootstrap and gradle, Node.js + npm (Debian's, on a bare Debian), and
# the pinned npm packages turbo and nx in /src/build/npm.
COPY scripts/setup scripts/setup
RUN scripts/setup && rm -rf /var/lib/apt/lists/* /root/.cache/pip /root/.npm
COPY . .
RUN cmake --preset release -DMEMOKEY_BUILD_TESTS=OFF -DMEMOKEY_BUILD_BENCH=OFF \
 && cmake --build --preset release -j "$(nproc)" \
 && mkdir -p /out/bin \
 && cp build/release/cli/memokey /out/bin/ \
 && if [ -x build/release/server/memokeyd ]; then cp build/release/server/memokeyd /out/bin/; fi

# --- runtime -------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
ENV DEBIAN_FRONTEND=noninteractive
# Shared libraries only (Boost and CLI11 are header-only); curl is for HEALTHCHECK.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates curl \
      libxxhash0 libhiredis0.14 libssl3 libzstd1 libsqlite3-0 libtomlplusplus3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/memokey --shell /usr/sbin/nologin memokey
COPY --from=build /out/bin/ /usr/local/bin/
# Fail the image build if a binary needs a library that is not installed here.
RUN ! ldd /usr/local/bin/* | grep -F 'not found'
USER memokey
WORKDIR /var/lib/memokey
# Inside a container the server must listen on every interface. memokeyd
# refuses to serve without tokens on a non-loopback address, so give it
# tokens or an explicit anonymous mode, e.g.:
#   docker run -p 8080:8080 -e MEMOKEYD_TOKENS=... memokey
#   docker run -p 8080:8080 -e MEMOKEYD_ANONYMOUS=read-write memokey   (trusted networks only)
ENV MEMOKEYD_LISTEN=0.0.0.0:8080 \
    MEMOKEYD_DATA_DIR=/var/lib/memokey/cache
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
# The memokey CLI is in the image too: `docker run --entrypoint memokey ...`.
ENTRYPOINT ["memokeyd"]

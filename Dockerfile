# Build: docker build -t kirim .   (curl is in the runtime image for healthchecks)
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin kirim

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/target/release/kirim /usr/local/bin/kirim
COPY config ./config
ENTRYPOINT ["kirim"]

# Builds the `ledger` binary (protobuf is compiled by protox: no system protoc needed).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin ledger

FROM debian:bookworm-slim
COPY --from=build /src/target/release/ledger /usr/local/bin/ledger
ENTRYPOINT ["/usr/local/bin/ledger"]

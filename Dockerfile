# Tollgate as a container image, for ECS, Kubernetes, App Runner or a plain
# Docker host: the same static binary as the Lambda zip, the same flags and
# environment variables (README.md), on a base image with no shell and no
# package manager, run as a non-root user.
#
#   docker build -t tollgate .            (or: make docker)
#   docker run -p 8080:8080 -e AWS_REGION=us-east-1 \
#     -e TOLLGATE_POLICIES=s3://BUCKET/policies/ \
#     -e TOLLGATE_STORE=dynamodb://TABLE tollgate
#
# docs/deploy.md covers the settings of each platform.

ARG GO_VERSION=1.26

# The build runs on the builder's own platform and cross-compiles, so a
# multi-platform build (docker buildx --platform linux/arm64,linux/amd64)
# needs no emulation.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -tags nomsgpack -ldflags "-s -w -X main.version=${VERSION}" -o /out/tollgate ./cmd/server

# distroless/static: CA certificates and time zone data, nothing else; the
# nonroot tag runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tollgate /usr/local/bin/tollgate
USER nonroot:nonroot
# The embedded store (bolt://./data/usage.db) and ./policies are relative to
# the working directory: mount a volume here to keep them, or use
# dynamodb:// and s3:// as every multi-instance deployment must.
WORKDIR /home/nonroot
# PORT makes Tollgate listen on all interfaces; the admin listener (/metrics)
# stays on 127.0.0.1 unless TOLLGATE_ADMIN_ADDR says otherwise.
ENV PORT=8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tollgate"]
CMD ["serve"]

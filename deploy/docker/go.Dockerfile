# syntax=docker/dockerfile:1
# One Dockerfile for every Go binary of the repo: skaffold passes CMD (frontdoor, dispatcher,
# headband or migrate). The build context is the repository root; go.Dockerfile.dockerignore
# keeps it to what `go build` needs.
#
# The binary is static (CGO_ENABLED=0), so the final image is distroless/static: no shell, no
# package manager, a non-root user (65532), CA certificates and tzdata only.
# go.mod's go version or a later patch of it (for its fixes), which `go test ./k8s/` checks:
# the golang images do not download a newer toolchain, so a floating tag pulled earlier at an
# older patch would fail the build.
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG CMD
RUN test -n "${CMD}" || { echo "build arg CMD (the cmd/ directory to build) is required" >&2; exit 1; }
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/app ./cmd/${CMD}

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/app /app
USER 65532:65532
ENTRYPOINT ["/app"]

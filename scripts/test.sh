#!/usr/bin/env bash
# The test command: vet, the whole suite with the oneDNN backend and the real-photo tier, and the
# pure-Go build (CGO_ENABLED=0) with the pure-Go backends and no real photos. Needs the packages
# .ci/run installs and the real photos in ../shared/data/cats (or $CATMARK_CATS).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
# -tags realphotos adds the real-photo tier (the *_real_test.go files) to the fixture-driven
# tests; in it a test fails, not skips, when the real photos are missing.
go vet -tags realphotos ./...
go test -count=1 -timeout 30m -tags realphotos ./...
# The Beam pipeline, a module of its own (beam/): vet, and its tests on the local Prism runner.
(cd beam && go vet ./... && go test -count=1 ./...)
# The pure-Go build: no cgo, pure-Go backends only; and go test ./... as a clone without
# ../shared runs it (the browser test, already run above, is left out by -short).
CGO_ENABLED=0 go vet ./...
CGO_ENABLED=0 go build -o /dev/null ./cmd/catmark
CGO_ENABLED=0 CATMARK_CATS=/nonexistent go test -count=1 -short -timeout 20m ./...
# engine/purego's plain-Go kernels (the build everywhere but amd64; tag purego), checked against ref.
CGO_ENABLED=0 go test -count=1 -tags purego ./engine/purego && GOARCH=arm64 CGO_ENABLED=0 go vet ./engine/purego
# Fuzz targets, bounded (longer: see docs/service.md, "Limits"): the upload decoder, the .cat parser and
# the checkpoint loader.
go test -count=1 -run '^$' -fuzz '^FuzzDecode$' -fuzztime 15s ./imgproc
go test -count=1 -run '^$' -fuzz '^FuzzParseCat$' -fuzztime 10s ./catdata
go test -count=1 -run '^$' -fuzz '^FuzzLoadBytes$' -fuzztime 10s ./model

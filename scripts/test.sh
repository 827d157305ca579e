#!/usr/bin/env bash
# The test command: vet, the whole suite with the oneDNN backend, and the pure-Go build
# (CGO_ENABLED=0) with the reference backend. Needs the packages .ci/run installs.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
go vet ./...
go test -count=1 -timeout 30m ./...
# The pure-Go build: no cgo, reference backend only.
CGO_ENABLED=0 go vet ./...
CGO_ENABLED=0 go build -o /dev/null ./cmd/catmark
CGO_ENABLED=0 go test -count=1 -timeout 20m . ./engine/... ./nn/... ./models/... ./train/... ./evaluate/...
# Fuzz targets, bounded (longer: see README, "Limits"): the upload decoder and the .cat parser.
go test -count=1 -run '^$' -fuzz '^FuzzDecode$' -fuzztime 15s ./imgproc
go test -count=1 -run '^$' -fuzz '^FuzzParseCat$' -fuzztime 10s ./catdata

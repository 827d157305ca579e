package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/catmark/catmark/engine"
)

// writeVersion prints the module version, Go version, revision, its time, whether the tree was
// modified, CGO_ENABLED, GOARCH (with its level) and the backends; "unknown" for what the build
// does not say.
func TestWriteVersion(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want []string
	}{
		{"stamped", debug.BuildInfo{
			GoVersion: "go1.26.8",
			Main:      debug.Module{Path: "github.com/catmark/catmark", Version: "v1.2.3"},
			Settings: []debug.BuildSetting{
				{Key: "CGO_ENABLED", Value: "1"}, {Key: "GOARCH", Value: "amd64"}, {Key: "GOAMD64", Value: "v3"},
				{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
			},
		}, []string{
			"catmark      v1.2.3", "module       github.com/catmark/catmark", "go           go1.26.8",
			"revision     0123abcd", "time         2026-12-01T10:00:00Z", "modified     true",
			"CGO_ENABLED  1", "GOARCH       amd64 (GOAMD64=v3)", "backends     dnnl, go, ref",
		}},
		{"bare", debug.BuildInfo{
			GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/catmark/catmark", Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "CGO_ENABLED", Value: "0"}, {Key: "GOARCH", Value: "arm64"}},
		}, []string{
			"catmark      (devel)", "revision     unknown", "time         unknown", "modified     unknown",
			"CGO_ENABLED  0", "GOARCH       arm64",
		}},
	} {
		var b strings.Builder
		writeVersion(&b, &tc.bi, []string{"dnnl", "go", "ref"})
		for _, w := range tc.want {
			if !strings.Contains("\n"+b.String(), "\n"+w+"\n") {
				t.Errorf("%s: output lacks the line %q:\n%s", tc.name, w, b.String())
			}
		}
	}
}

// catmark version prints this binary's Go version, architecture, cgo setting and backends.
func TestVersionCommand(t *testing.T) {
	out, err := evalCapture(t, func() error { return runVersion(nil) })
	if err != nil {
		t.Fatal(err)
	}
	cgo := "0"
	if cgoEnabled {
		cgo = "1"
	}
	for _, w := range []string{
		"go           " + runtime.Version() + "\n",
		"GOARCH       " + runtime.GOARCH,
		"CGO_ENABLED  " + cgo + "\n",
		"backends     " + strings.Join(engine.Available(), ", ") + "\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("catmark version lacks %q:\n%s", w, out)
		}
	}
	if err := runVersion([]string{"extra"}); err == nil {
		t.Error("catmark version extra: no error")
	}
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/catmark/catmark/engine"
)

func init() {
	register("version", "print catmark's version, how it was built and the engine backends it has", runVersion)
}

func runVersion(args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: catmark version\n\nPrints the module version, the Go version, the source revision it was built from (with its time and whether the tree was modified), CGO_ENABLED, GOARCH and the engine backends compiled in.")
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return errors.New("the binary carries no build information (built without module support)")
	}
	writeVersion(os.Stdout, bi, engine.Available())
	return nil
}

// writeVersion writes what "catmark version" prints of build info bi and the backends: one
// "key value" line each, "unknown" where bi does not say (a build outside a repository has no
// revision).
func writeVersion(w io.Writer, bi *debug.BuildInfo, backends []string) {
	setting := map[string]string{}
	for _, s := range bi.Settings {
		setting[s.Key] = s.Value
	}
	get := func(key string) string {
		if v := setting[key]; v != "" {
			return v
		}
		return "unknown"
	}
	version := bi.Main.Version
	if version == "" {
		version = "unknown"
	}
	module := bi.Main.Path
	if module == "" {
		module = "unknown"
	}
	arch := get("GOARCH")
	if level, ok := setting["GO"+strings.ToUpper(arch)]; ok { // GOAMD64=v3, GOARM64=v8.0, …
		arch += " (GO" + strings.ToUpper(arch) + "=" + level + ")"
	}
	fmt.Fprintf(w, "catmark      %s\n", version)
	fmt.Fprintf(w, "module       %s\n", module)
	fmt.Fprintf(w, "go           %s\n", bi.GoVersion)
	fmt.Fprintf(w, "revision     %s\n", get("vcs.revision"))
	fmt.Fprintf(w, "time         %s\n", get("vcs.time"))
	fmt.Fprintf(w, "modified     %s\n", get("vcs.modified"))
	fmt.Fprintf(w, "CGO_ENABLED  %s\n", get("CGO_ENABLED"))
	fmt.Fprintf(w, "GOARCH       %s\n", arch)
	fmt.Fprintf(w, "backends     %s\n", strings.Join(backends, ", "))
}

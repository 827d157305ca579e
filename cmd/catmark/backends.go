package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/catmark/catmark/engine"
	_ "github.com/catmark/catmark/engine/backends" // every engine backend this build has
)

// backendHelp is the --backend flag's help: the backends this build has, fastest first.
func backendHelp() string {
	names := engine.Available()
	return fmt.Sprintf("engine backend: %s (empty: the fastest, %s)", strings.Join(names, ", "), names[0])
}

// backendVar defines --backend on fs, stored in p: the engine backend, the same flag for every
// subcommand that runs a model.
func backendVar(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "backend", "", backendHelp())
}

package main

import (
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

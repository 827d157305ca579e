// Package backends registers every engine backend this build has. Import it for its side effect:
//
//	import _ "github.com/catmark/catmark/engine/backends"
//
// and then pick one with engine.Open (by name, or "" for the fastest).
//
// engine/dnnl (oneDNN through cgo) guards itself with build tags: built with cgo and without the
// tag "nodnnl" it registers "dnnl"; otherwise it is an empty package and only "go" (engine/purego)
// and "ref" are present.
package backends

import (
	_ "github.com/catmark/catmark/engine/dnnl"   // oneDNN, when this build has it
	_ "github.com/catmark/catmark/engine/purego" // pure Go with assembly kernels ("go"), always present
	_ "github.com/catmark/catmark/engine/ref"    // pure Go, the reference, always present
)

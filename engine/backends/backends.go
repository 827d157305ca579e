// Package backends registers every engine backend this build has. Import it for its side effect:
//
//	import _ "github.com/catmark/catmark/engine/backends"
//
// and then pick one with engine.Open (by name, or "" for the fastest).
//
// engine/dnnl (oneDNN through cgo) is imported here once it exists; it guards itself with build
// tags, so the import needs none.
package backends

import (
	_ "github.com/catmark/catmark/engine/ref" // pure Go, always present
)

//go:build !cgo

package main

// cgoEnabled reports whether the test binary was built with cgo.
const cgoEnabled = false

//go:build realphotos

package testenv

// required: built with -tags realphotos, missing photos fail the test.
const required = true

//go:build !realphotos

package testenv

// required: built without -tags realphotos, missing photos skip the test.
const required = false

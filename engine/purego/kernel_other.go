//go:build !amd64 || purego

package purego

// asmKernelSets returns the assembly micro-kernel sets the CPU runs: none in this build.
func asmKernelSets() []kernelSet { return nil }

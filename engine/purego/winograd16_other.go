//go:build !amd64 || purego

package purego

// asmWino16 returns the 16-wide transforms: none in this build (useWino16 is never asked).
func asmWino16() (
	func([]float32, []int32, int, []float32, int, *[winoP * 16]float32),
	func([]float32, int, float32, *[winoM * winoM * 16]float32, *[winoP * 16]float32),
	func([]float32, int, []float32, int),
	func(*[16 * winoM * winoM * 16]float32, []float32, *[16]int, int, int),
) {
	return nil, nil, nil, nil
}

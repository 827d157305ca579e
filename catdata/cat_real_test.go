//go:build realphotos

package catdata

import (
	"testing"

	"github.com/catmark/catmark/internal/testenv"
)

// TestRealAnnotations parses every .cat of the real photos and round-trips it through FormatCat.
func TestRealAnnotations(t *testing.T) {
	n, negative := roundTrip(t, testenv.CatsDir(t))
	if n < 1000 {
		t.Errorf("%d real annotations, want the 1,320", n)
	}
	if negative == 0 {
		t.Error("no negative coordinate in the real set: the README says some ears leave the frame")
	}
}

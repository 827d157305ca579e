//go:build realphotos

package augment

import (
	"testing"

	"github.com/catmark/catmark/catdata"
	"github.com/catmark/catmark/internal/testenv"
)

// realAnnotations returns the annotations of all the real photos.
func realAnnotations(t *testing.T) []annotated {
	t.Helper()
	dir := testenv.CatsDir(t)
	src, err := catdata.Scan(dir)
	if err != nil {
		t.Fatalf("scanning %s: %v", dir, err)
	}
	defer src.Close()
	if src.Len() < 1000 {
		t.Fatalf("%s: %d photos, want the 1,320 real ones", dir, src.Len())
	}
	return annotations(t, src)
}

// The real annotations follow the conventions the flip relies on (eyes in image order, outer
// ear bases outside) often enough for the checks to mean something.
func TestFlipOnRealAnnotations(t *testing.T) {
	all := realAnnotations(t)
	t.Run("eyes", func(t *testing.T) { checkEyesInImageOrder(t, all) })
	t.Run("ears", func(t *testing.T) { checkOuterEarBasesOutside(t, all) })
}

package backends_test

import (
	"slices"
	"testing"

	"github.com/catmark/catmark/engine"
	_ "github.com/catmark/catmark/engine/backends"
)

func TestRegistered(t *testing.T) {
	names := engine.Available()
	if !slices.Contains(names, "ref") {
		t.Fatalf("Available() = %v, want ref among them", names)
	}
	b, err := engine.Open("")
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != names[0] {
		t.Errorf("Open(\"\") gave %q, want the first available, %q", b.Name(), names[0])
	}
	t.Logf("backends: %v", names)
}

//go:build cgo && !nodnnl

package dnnl

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/engine/enginetest"
	"github.com/catmark/catmark/engine/ref"
)

// TestMain turns the choices file off for the package's tests, which count the choices they
// time; the tests of the file set ChoicesEnv themselves.
func TestMain(m *testing.M) {
	os.Setenv(ChoicesEnv, "off")
	os.Exit(m.Run())
}

// choicesConv runs one 3×3 stride-1 forward convolution (a provider candidate under
// CATMARK_DNNL_CONV=tune-go) on b, once, as a process that runs one pass does, and returns the
// result.
func choicesConv(b engine.Backend) []float32 {
	rng := enginetest.NewRand(3)
	xs, ws := []int{2, 16, 16, 16}, []int{16, 16, 3, 3}
	xh, wh := enginetest.Rand(rng, engine.Numel(xs), 1), enginetest.Rand(rng, engine.Numel(ws), 0.1)
	return b.ToHost(b.Conv2D(b.FromHost(xh, xs...), b.FromHost(wh, ws...), nil, engine.ConvParams{Stride: 1, Pad: 1}))
}

// TestChoicesKept checks that a timed choice outlives its process: a backend that runs one
// pass writes it to the choices file when the result is read back, and a second backend with the same file takes it without timing anything and
// runs the same path; a file naming only another machine's section is timed anew.
func TestChoicesKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "choices.json")
	t.Setenv(ChoicesEnv, path)
	var seen []judged
	providerWins := func(kind int, ws []int) bool { return true }
	first := newTuneGo(t, providerWins, &seen)
	want := choicesConv(first)
	if len(seen) != 1 {
		t.Fatalf("the first backend timed %d choices, want 1", len(seen))
	}
	var d choicesDoc
	if data, err := os.ReadFile(path); err != nil {
		t.Fatalf("no choices file after a timed choice: %v (%v)", err, first.Made().ChoicesErr)
	} else if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	sec := d.Sections[first.choicesSection()]
	if d.Format != choicesFormat || len(sec) != 1 {
		t.Fatalf("choices file: format %d, %d choices in this machine's section, want %d and 1: %+v", d.Format, len(sec), choicesFormat, d)
	}
	for _, c := range sec {
		if !c.GoWino {
			t.Errorf("the file's choice %+v does not say the provider won", c)
		}
	}

	seen = nil
	second := newTuneGo(t, providerWins, &seen)
	got := choicesConv(second)
	if len(seen) != 0 || second.Made().Tuned != 0 || second.Made().ChoicesRead != 1 {
		t.Errorf("the second backend timed %d choices (%d read from the file), want 0 (1)", second.Made().Tuned, second.Made().ChoicesRead)
	}
	if !strings.Contains(strings.Join(mapValues(second.ConvPaths()), " "), "go_winograd") {
		t.Errorf("the second backend ran %v, want the provider the file names", second.ConvPaths())
	}
	if e, err := enginetest.MaxRelErr(got, want); err != nil || e != 0 {
		t.Errorf("the same choice gave other values: %v %v", e, err)
	}

	// A tampered choice (no such algorithm, layout, place or kernel) is not trusted blindly: the
	// convolution still runs, on oneDNN's first choice, and matches the reference backend.
	for class := range sec {
		sec[class] = convChoice{Algo: 7, Nth: -3, Layout: 99, Suffix: " bogus", Impl: "bogus"}
	}
	if data, err := json.Marshal(d); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	seen = nil
	tampered := newTuneGo(t, func(int, []int) bool { return false }, &seen)
	if e, err := enginetest.MaxRelErr(choicesConv(tampered), choicesConv(ref.New())); err != nil || e > enginetest.Tolerance {
		t.Errorf("with a tampered choice: error %v against the reference (%v)", e, err)
	}

	// Only another machine's section: this one times again and keeps the other's.
	d.Sections = map[string]map[string]convChoice{"another machine": sec}
	data, _ := json.Marshal(d)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	seen = nil
	third := newTuneGo(t, providerWins, &seen)
	choicesConv(third)
	if len(seen) != 1 {
		t.Errorf("with another machine's choices only, %d choices timed, want 1", len(seen))
	}
	d = choicesDoc{}
	data, _ = os.ReadFile(path)
	if err := json.Unmarshal(data, &d); err != nil || len(d.Sections) != 2 {
		t.Errorf("after saving, the file has sections %v (%v), want both machines'", d.Sections, err)
	}
}

// TestChoicesBadFile checks that a choices file that is not one, or cannot be written, leaves
// the backend timing as without it and says why, and that "off" writes nothing.
func TestChoicesBadFile(t *testing.T) {
	dir := t.TempDir()
	var seen []judged
	providerWins := func(kind int, ws []int) bool { return true }
	for _, c := range []struct {
		name, file, content string
		wantErr             string // in Made.ChoicesErr, "" none
		wantFile            bool   // a valid choices file afterwards
	}{
		{"garbage", "garbage.json", "{not json", "not a choices file", true},
		{"other format", "old.json", `{"format": 99, "sections": {}}`, "format 99", true},
		{"folder in the way", "folder", "", "keeping the convolution choices", false},
	} {
		path := filepath.Join(dir, c.file)
		if c.content != "" {
			if err := os.WriteFile(path, []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
		} else if err := os.Mkdir(path, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Setenv(ChoicesEnv, path)
		seen = nil
		b := newTuneGo(t, providerWins, &seen)
		choicesConv(b)
		m := b.Made()
		if len(seen) != 1 || m.ChoicesRead != 0 {
			t.Errorf("%s: %d choices timed, %d read, want 1 and 0", c.name, len(seen), m.ChoicesRead)
		}
		if m.ChoicesErr == nil || !strings.Contains(m.ChoicesErr.Error(), c.wantErr) {
			t.Errorf("%s: ChoicesErr %v, want one saying %q", c.name, m.ChoicesErr, c.wantErr)
		}
		if _, err := readChoices(path); (err == nil) != c.wantFile {
			t.Errorf("%s: afterwards reading the file says %v, want a valid file %v", c.name, err, c.wantFile)
		}
	}

	t.Setenv(ChoicesEnv, "off")
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	t.Setenv("HOME", filepath.Join(dir, "home"))
	choicesConv(newTuneGo(t, providerWins, &seen))
	for _, d := range []string{"cache", "home"} {
		if _, err := os.Stat(filepath.Join(dir, d)); err == nil {
			t.Errorf("with %s=off, %s was written", ChoicesEnv, d)
		}
	}
}

func mapValues(m map[string]string) []string {
	var vs []string
	for _, v := range m {
		vs = append(vs, v)
	}
	return vs
}

// TestChoicesLocalNotWritten checks that a choice whose class names a process-local pointer (a
// binary-add post-op's addend layout) is kept in memory but not written to the file.
func TestChoicesLocalNotWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "choices.json")
	t.Setenv(ChoicesEnv, path)
	b := newBackend(t)
	b.loadChoices()
	b.convChoice["portable"] = convChoice{Algo: 0, Impl: "x"}
	b.convChoice["local"] = convChoice{Algo: 2, Impl: "y"}
	b.choices.timed("portable", true)
	b.choices.timed("local", false)
	b.flushChoices()
	d, err := readChoices(path)
	if err != nil {
		t.Fatal(err)
	}
	sec := d.Sections[b.choices.section]
	if _, ok := sec["portable"]; !ok || len(sec) != 1 {
		t.Errorf("the file's section holds %v, want the portable choice only", sec)
	}
	if _, ok := b.convChoice["local"]; !ok {
		t.Error("the local choice was dropped from memory")
	}
}

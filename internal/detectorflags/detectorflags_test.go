package detectorflags

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/catmark/catmark"
)

// The detector flags reach the Detector's settings, and a flag that would be silently ignored
// or out of range is an error naming it.
func TestDetectorFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // a part of the error; empty: none
		up   float64
	}{
		{nil, "", catmark.Defaults.Upright},
		{[]string{"--upright", "0.3"}, "", 0.3},
		{[]string{"--any-angle=false"}, "", catmark.Defaults.Upright},
		{[]string{"--any-angle=false", "--upright", "0"}, "", 0},
		{[]string{"--any-angle=false", "--upright", "0.5"}, "--upright 0.5 applies only with --any-angle", 0},
		{[]string{"--upright", "2"}, "upright 2 out of range", 0},
		{[]string{"--zoom", "0.6"}, "zoom 0.6 out of range", 0},
		{[]string{"--first-stage", "centers"}, "", catmark.Defaults.Upright},
		{[]string{"--first-stage", "sideways"}, `first stage "sideways"`, 0},
		{[]string{"--first-stage", "centers", "--centers-size", "384"}, "", catmark.Defaults.Upright},
		{[]string{"--centers-size", "384"}, "--centers-size 384 applies only with --first-stage centers", 0},
		{[]string{"--first-stage", "centers", "--centers-size", "390"}, "centers size 390", 0},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f := Add(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		s, err := f.Settings()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		case tc.want == "" && s.Upright != tc.up:
			t.Errorf("%v: Upright %g, want %g", tc.args, s.Upright, tc.up)
		}
	}
}

package pipeline

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/catmark/catmark"
	_ "github.com/catmark/catmark/engine/backends"
	"github.com/catmark/catmark/internal/fixture"
)

func TestMain(m *testing.M) {
	// oneDNN's timed convolution choice (the default with AVX-512) can round a photo's points
	// differently in two processes; the fixed choice makes predict's output and the pipeline's
	// comparable byte for byte.
	os.Setenv("CATMARK_DNNL_CONV", "direct")
	ptest.MainWithDefault(m, "prism")
}

// catmarkBinary builds cmd/catmark of the parent module once per test run and returns its path.
var catmarkBinary = sync.OnceValues(func() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	dir, err := os.MkdirTemp("", "catmark-beam-test")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "catmark")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/catmark")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &exec.ExitError{Stderr: out}
	}
	return bin, nil
})

// predict runs catmark predict --json with args in dir and returns its JSON lines and the
// errors it printed (without the "catmark predict: " prefix and the closing count).
func predict(t *testing.T, dir string, args ...string) (lines, errs []string) {
	t.Helper()
	bin, err := catmarkBinary()
	if err != nil {
		t.Fatalf("building catmark: %v: %s", err, err.(*exec.ExitError).Stderr)
	}
	cmd := exec.Command(bin, append([]string{"predict", "--json"}, args...)...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if l == "" || strings.HasSuffix(l, " failed") && strings.Contains(l, "photo(s)") {
			continue
		}
		e, ok := strings.CutPrefix(l, "catmark predict: ")
		if !ok {
			t.Fatalf("predict printed %q", l)
		}
		errs = append(errs, e)
	}
	if runErr != nil && len(errs) == 0 {
		t.Fatalf("predict: %v: %s", runErr, stderr.String())
	}
	return splitLines(stdout.String()), errs
}

func splitLines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// run runs the pipeline for c on Prism, in dir (c's paths are relative to it, as predict's), and
// returns its results, its dead letters and its stats.
func run(t *testing.T, dir string, c Config) (results []string, dead []DeadLetter, st Stats) {
	t.Helper()
	t.Chdir(dir)
	p, s := beam.NewPipelineWithRoot()
	if err := Build(s, c); err != nil {
		t.Fatal(err)
	}
	res, err := beam.Run(context.Background(), "prism", p)
	if err != nil {
		t.Fatalf("running the pipeline: %v", err)
	}
	shards := c.withDefaults().Shards
	for i := range shards {
		for _, name := range []string{ResultsName(c.Output, i, shards), ErrorsName(c.Output, i, shards)} {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatalf("shard %d: %v", i, err) // every shard is written, empty or not
			}
			for _, l := range splitLines(string(b)) {
				if name == ResultsName(c.Output, i, shards) {
					results = append(results, l)
					continue
				}
				var d DeadLetter
				if err := json.Unmarshal([]byte(l), &d); err != nil {
					t.Fatalf("%s: %q: %v", name, l, err)
				}
				dead = append(dead, d)
			}
		}
	}
	return results, dead, Summarize(res.Metrics())
}

// countFaces is what the faces counter counts for the results lines.
func countFaces(t *testing.T, lines []string) int64 {
	var n int64
	for _, l := range lines {
		var r catmark.Record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		n += int64(max(1, len(r.Faces)))
	}
	return n
}

// The pipeline writes for the fixture photos exactly the lines catmark predict --json prints for
// them, byte for byte (order aside), in batches as predict's, and counts them.
func TestMatchesPredict(t *testing.T) {
	dir := fixture.Photos(t, 7)
	for _, batch := range []int{3, DefaultBatch} {
		want, errs := predict(t, dir, "--batch", strconv.Itoa(batch), ".")
		if len(errs) > 0 || len(want) != 7 {
			t.Fatalf("--batch %d: predict printed %d lines and errors %q, want 7 lines", batch, len(want), errs)
		}
		got, dead, st := run(t, dir, Config{Input: "*.jpg", Output: "out/cats", Settings: catmark.Defaults, Batch: batch, Shards: 3})
		if len(dead) > 0 {
			t.Errorf("--batch %d: dead letters %v", batch, dead)
		}
		slices.Sort(want)
		slices.Sort(got)
		if len(got) != len(want) {
			t.Errorf("--batch %d: the pipeline wrote %d lines, predict printed %d", batch, len(got), len(want))
		}
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Errorf("--batch %d: the pipeline wrote\n%s\npredict printed\n%s", batch, got[i], want[i])
			}
		}
		if st.Photos != 7 || st.Failures != 0 || st.Faces != countFaces(t, want) || st.PhotoMicros.Count != 7 || st.PhotoMicros.Min <= 0 {
			t.Errorf("--batch %d: stats %+v, want 7 photos, %d faces, no failures, 7 times above 0", batch, st, countFaces(t, want))
		}
	}
}

// Bad photos go to the dead letters with the errors catmark predict prints for them, the good
// one among them to the results, and the job succeeds.
func TestDeadLetters(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(fixture.Path(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"good.jpg":      good,
		"truncated.jpg": good[:len(good)*3/5],
		"text.jpg":      []byte("these are not the pixels you are looking for\n"),
		"huge.png":      pngHeader(100000, 100000),
		"tiny.png":      pngHeader(8, 8),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("nowhere.jpg", filepath.Join(dir, "gone.jpg")); err != nil { // unreadable
		t.Fatal(err)
	}
	// A folder the glob matches is no photo: catmark predict would look inside it instead.
	if err := os.Mkdir(filepath.Join(dir, "folder.jpg"), 0o755); err != nil {
		t.Fatal(err)
	}
	want, wantErrs := predict(t, dir, "gone.jpg", "good.jpg", "huge.png", "text.jpg", "tiny.png", "truncated.jpg")
	if len(want) != 1 || len(wantErrs) != 5 {
		t.Fatalf("predict: %d lines, errors %q; want 1 line and 5 errors", len(want), wantErrs)
	}
	got, dead, st := run(t, dir, Config{Input: "*.[jp][pn]g", Output: "out/cats", Settings: catmark.Defaults, Shards: 2})
	if !slices.Equal(got, want) {
		t.Errorf("results %q, predict printed %q", got, want)
	}
	var reasons []string
	for _, d := range dead {
		if !strings.Contains(d.Reason, d.Path) {
			t.Errorf("dead letter %+v: the reason does not name the photo", d)
		}
		if d.Path == "folder.jpg" {
			if !strings.Contains(d.Reason, "a folder") {
				t.Errorf("dead letter %+v: the reason does not say it is a folder", d)
			}
			continue
		}
		reasons = append(reasons, d.Reason)
	}
	slices.Sort(reasons)
	slices.Sort(wantErrs)
	if !slices.Equal(reasons, wantErrs) {
		t.Errorf("dead letters' reasons\n%s\npredict's errors\n%s", strings.Join(reasons, "\n"), strings.Join(wantErrs, "\n"))
	}
	if st.Photos != 7 || st.Failures != 6 || st.Faces != countFaces(t, want) || st.PhotoMicros.Count != 7 {
		t.Errorf("stats %+v, want 7 photos, 6 failures, %d faces, 7 times", st, countFaces(t, want))
	}
}

// pngHeader is the start of a w×h 8-bit RGB PNG: its signature and a valid IHDR chunk, no pixels.
func pngHeader(w, h uint32) []byte {
	ihdr := make([]byte, 0, 17)
	ihdr = append(ihdr, "IHDR"...)
	ihdr = binary.BigEndian.AppendUint32(ihdr, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	b := []byte("\x89PNG\r\n\x1a\n")
	b = binary.BigEndian.AppendUint32(b, 13)
	b = append(b, ihdr...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(ihdr))
}

// A configuration out of range is refused before anything runs.
func TestConfigValidate(t *testing.T) {
	ok := Config{Input: "*.jpg", Output: "out/x", Settings: catmark.Defaults}
	for _, tc := range []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) {}, ""},
		{func(c *Config) { c.Input = "" }, "no input"},
		{func(c *Config) { c.Output = "" }, "no output"},
		{func(c *Config) { c.Batch = 300 }, "batch 300 out of range"},
		{func(c *Config) { c.Shards = -1 }, "shards -1 out of range"},
		{func(c *Config) { c.Settings.Zoom = 0.9 }, "zoom 0.9 out of range"},
	} {
		c := ok
		tc.change(&c)
		err := c.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: error %v, want one containing %q", c, err, tc.want)
		}
	}
	_, s := beam.NewPipelineWithRoot()
	if err := Build(s, Config{Input: "nosuchscheme://bucket/*.jpg", Output: "out/x"}); err == nil || !strings.Contains(err.Error(), "nosuchscheme") {
		t.Errorf("an unregistered file system: error %v, want one naming its scheme", err)
	}
}

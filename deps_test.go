package catmark

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// goTool runs the go command of the toolchain running the test, in dir, with extra environment.
func goTool(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// The inference API is apart from training and from cgo: a program that only detects links no
// training package and no cgo backend, so it builds without oneDNN's headers, with or without cgo.
func TestImportsNoTrainingAndNoCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	out := goTool(t, ".", nil, "list", "-deps", "-f", "{{.ImportPath}} {{len .CgoFiles}}", ".")
	forbidden := []string{"train", "loader", "loss", "optim", "cache", "study", "evaluate", "engine/dnnl", "engine/backends"}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		path, cgo, _ := strings.Cut(line, " ")
		if rest, ok := strings.CutPrefix(path, "github.com/catmark/catmark/"); ok {
			n++
			for _, f := range forbidden {
				if rest == f {
					t.Errorf("the root package depends on %s", path)
				}
			}
		}
		if cgo != "0" && path != "runtime/cgo" {
			t.Errorf("the root package depends on %s, which has cgo files", path)
		}
	}
	if n < 5 {
		t.Fatalf("go list named %d catmark packages; the check read nothing:\n%s", n, out)
	}
}

// A module outside the repository that imports catmark, loads the shipped model and detects the
// points on a photo builds and runs with CGO_ENABLED=0, on the pure-Go backend by default and on
// the reference backend when asked.
func TestExternalModuleBuildsWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module with the go command")
	}
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/usecatmark\n\ngo 1.26\n\nrequire github.com/catmark/catmark v0.0.0\n\nreplace github.com/catmark/catmark => " + root + "\n",
		"main.go": `package main

import (
	"fmt"
	"image"
	"image/color"
	"log"

	"github.com/catmark/catmark"
)

func main() {
	s := catmark.Defaults
	s.Search = 0 // keep the run short: no face search on this blank picture
	det, err := catmark.Load("", catmark.WithSettings(s)) // the fastest backend linked in: the pure-Go one
	if err != nil {
		log.Fatal(err)
	}
	ref, err := catmark.Load("", catmark.WithBackend("ref"))
	if err != nil {
		log.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range 64 * 48 {
		img.Set(i%64, i/64, color.RGBA{uint8(i), 90, 200, 255})
	}
	pts, err := det.Detect(img)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("points:", len(pts), "backends:", det.Backend(), ref.Backend())
}
`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"CGO_ENABLED=0", "GOFLAGS=-mod=mod"}
	goTool(t, dir, env, "mod", "tidy")
	bin := filepath.Join(dir, "usecatmark")
	goTool(t, dir, env, "build", "-o", bin, ".")
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "points: 9 backends: go ref") {
		t.Fatalf("the external program: %v\n%s", err, out)
	}
}

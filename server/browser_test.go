package server

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color/palette"
	"image/gif"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/landmark"
)

// findChromium returns the path of a Chromium or Chrome binary, or "" when none is installed.
func findChromium() string {
	if p := os.Getenv("CATMARK_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// screenshotPath is where TestBrowserPage writes its screenshot: $CATMARK_SCREENSHOT, else
// server_page.png in the temporary directory.
func screenshotPath() string {
	if p := os.Getenv("CATMARK_SCREENSHOT"); p != "" {
		return p
	}
	return filepath.Join(os.TempDir(), "server_page.png")
}

// TestBrowserPage drives the web page in headless Chromium: it uploads a real cat photo through
// the file input, waits for the drawing, reads the points back from the page and from the
// canvas's pixels, and then uploads a GIF to see the API's error shown.
func TestBrowserPage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped in -short mode")
	}
	chromium := findChromium()
	if chromium == "" {
		t.Skip("no Chromium installed (apt-get install chromium, or set CATMARK_CHROMIUM to a Chrome binary)")
	}
	photo, _ := catPhoto(t)
	want := readCatPoints(t, photo) // the detector answers with the photo's own annotation
	face := 0.93
	s := newServer(t, fixedDetector{p: want, face: &face}, Options{})
	ts := httptest.NewServer(s)
	defer ts.Close()

	gifPath := filepath.Join(t.TempDir(), "not-a-cat.gif")
	f, err := os.Create(gifPath)
	if err != nil {
		t.Fatal(err)
	}
	gif.Encode(f, image.NewPaletted(image.Rect(0, 0, 8, 8), palette.Plan9), nil)
	f.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox, // as root, Chromium refuses to start with its sandbox
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 760),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	defer cancel()
	// Start the browser without a deadline (a deadline on the first Run stops the browser), then
	// bound the test's steps.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	stepCtx, cancelSteps := context.WithTimeout(ctx, 60*time.Second)
	defer cancelSteps()

	const waitDone = `(() => { const s = document.getElementById("app").dataset.state;
		return s === "done" || s === "error" ? s : null; })()`
	if err := chromedp.Do(stepCtx,
		chromedp.Navigate(ts.URL+"/"),
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{photo}),
	); err != nil {
		t.Fatalf("opening the page and choosing %s: %v", photo, err)
	}
	state, err := chromedp.Run(stepCtx, chromedp.Poll[string](waitDone, chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		t.Fatalf("waiting for the drawing: %v", err)
	}
	status, _ := chromedp.Run(stepCtx, chromedp.TextContent(chromedp.ID("status")))
	if state != "done" {
		t.Fatalf("page state %q after uploading %s; status: %s", state, photo, status)
	}
	if !strings.Contains(status, "face presence 0.93") {
		t.Errorf("status %q does not give the face presence 0.93", status)
	}

	// The points as the page received them.
	raw, err := chromedp.Run(stepCtx, chromedp.TextContent(chromedp.ID("result-json")))
	if err != nil {
		t.Fatal(err)
	}
	var got catmark.Record
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("result-json %q: %v", raw, err)
	}
	if got.Path != filepath.Base(photo) || len(got.Points) != landmark.N {
		t.Fatalf("page shows %q with %d points, want %q with 9", got.Path, len(got.Points), filepath.Base(photo))
	}
	for i, p := range got.Points {
		if p.Name != landmark.Names[i] || p.X != want[i].X || p.Y != want[i].Y {
			t.Errorf("page point %d = %+v, want %s (%g, %g)", i, p, landmark.Names[i], want[i].X, want[i].Y)
		}
	}
	rows, err := chromedp.Run(stepCtx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("#points tbody tr")].map(r => r.cells[1].textContent + " " + r.cells[2].textContent + " " + r.cells[3].textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != landmark.N {
		t.Fatalf("the table lists %d points, want 9: %q", len(rows), rows)
	}
	for i, r := range rows {
		w := fmt.Sprintf("%s %.1f %.1f", strings.ReplaceAll(landmark.Names[i], "_", " "), want[i].X, want[i].Y)
		if r != w {
			t.Errorf("table row %d = %q, want %q", i+1, r, w)
		}
	}

	// The canvas: at each point's place, the marker's colour (eyes and mouth have a centre dot,
	// ear points a dot) — left side sky blue, right side pink, mouth amber. A label of another
	// point may cover a centre, so most, not all, must match.
	pixels, err := chromedp.Run(stepCtx, chromedp.Evaluate[[][]int](`(() => {
		const c = document.getElementById("canvas"), g = c.getContext("2d");
		const s = +c.dataset.scale, pad = +c.dataset.pad, dpr = c.width / parseFloat(c.style.width);
		const r = JSON.parse(document.getElementById("result-json").textContent);
		return r.points.map(p => [...g.getImageData(Math.round((pad + p.x * s) * dpr), Math.round((pad + p.y * s) * dpr), 1, 1).data]);
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	colours := map[string][3]int{"left": {0x0e, 0xa5, 0xe9}, "right": {0xe1, 0x1d, 0x74}, "mouth": {0xf5, 0x9e, 0x0b}}
	side := [landmark.N]string{"left", "right", "mouth", "left", "left", "left", "right", "right", "right"}
	matched := 0
	for i, px := range pixels {
		c := colours[side[i]]
		if len(px) == 4 && near(px[0], c[0]) && near(px[1], c[1]) && near(px[2], c[2]) {
			matched++
		} else {
			t.Logf("point %d (%s): pixel %v, want the %s colour %v", i+1, landmark.Names[i], px, side[i], c)
		}
	}
	if outside := want.Outside(got.Width, got.Height); matched < landmark.N-2-outside {
		t.Errorf("only %d of 9 points have their marker's colour on the canvas (%d outside the photo)", matched, outside)
	}

	// The canvas is shown at the size the page chose for it, not squeezed by the layout.
	shown, err := chromedp.Run(stepCtx, chromedp.Evaluate[[]float64](`(() => {
		const c = document.getElementById("canvas");
		return [c.getBoundingClientRect().width, parseFloat(c.style.width)]; })()`))
	if err != nil {
		t.Fatal(err)
	}
	if len(shown) != 2 || shown[1] < 200 || shown[0] < shown[1]-1 {
		t.Errorf("canvas shown %v CSS pixels wide, drawn for %v", shown[0], shown[1])
	}

	png, err := chromedp.Run(stepCtx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(screenshotPath(), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", screenshotPath())

	// An unsupported file: the page must show the API's error.
	if err := chromedp.Do(stepCtx, chromedp.SetUploadFiles(chromedp.ID("file"), []string{gifPath})); err != nil {
		t.Fatal(err)
	}
	state, err = chromedp.Run(stepCtx, chromedp.Poll[string](`(() => {
		const s = document.getElementById("app").dataset.state; return s === "error" ? s : null; })()`,
		chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		t.Fatalf("waiting for the GIF's error: %v", err)
	}
	status, err = chromedp.Run(stepCtx, chromedp.TextContent(chromedp.ID("status")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(status, "GIF images are not supported") || !strings.Contains(status, "415") {
		t.Errorf("after uploading a GIF the page says %q; want the API's 415 message", status)
	}
	hidden, err := chromedp.Run(stepCtx, chromedp.Evaluate[bool](`document.getElementById("result").hidden`))
	if err != nil || !hidden {
		t.Errorf("the previous drawing is still shown after an error (hidden=%v, err=%v)", hidden, err)
	}
	if png, err := chromedp.Run(stepCtx, chromedp.FullScreenshot(100)); err == nil {
		p := strings.TrimSuffix(screenshotPath(), ".png") + "_error.png"
		if err := os.WriteFile(p, png, 0o644); err == nil {
			t.Logf("screenshot of the error: %s", p)
		}
	}
}

func near(a, b int) bool { return a-b <= 40 && b-a <= 40 }

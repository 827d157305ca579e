package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/internal/exiftest"
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

	ctx := startBrowser(t, chromium)
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

// startBrowser starts headless Chromium for the test (stopped when the test ends) and returns
// its context, without a deadline: a deadline on the first Run would stop the browser.
func startBrowser(t *testing.T, chromium string) context.Context {
	t.Helper()
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
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	return ctx
}

func near(a, b int) bool { return a-b <= 40 && b-a <= 40 }

// TestBrowserOrientedPhoto uploads a JPEG stored sideways with EXIF orientation 6 (a phone's
// portrait photo): the browser shows it turned, 240×160, the server answers in that frame, and
// the page draws the points on the squares they were found on.
func TestBrowserOrientedPhoto(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped in -short mode")
	}
	chromium := findChromium()
	if chromium == "" {
		t.Skip("no Chromium installed (apt-get install chromium, or set CATMARK_CHROMIUM to a Chrome binary)")
	}
	photo := filepath.Join(t.TempDir(), "portrait.jpg")
	if err := os.WriteFile(photo, orientedPhoto(t), 0o644); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(newServer(t, squareDetector{}, Options{}))
	defer ts.Close()
	ctx, cancel := context.WithTimeout(startBrowser(t, chromium), 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/"), chromedp.SetUploadFiles(chromedp.ID("file"), []string{photo})); err != nil {
		t.Fatal(err)
	}
	state, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => { const s = document.getElementById("app").dataset.state;
		return s === "done" || s === "error" ? s : null; })()`, chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil || state != "done" {
		status, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("status")))
		t.Fatalf("page state %q (%v); status: %s", state, err, status)
	}
	raw, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("result-json")))
	if err != nil {
		t.Fatal(err)
	}
	var r catmark.Record
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatalf("result-json %q: %v", raw, err)
	}
	if r.Width != 240 || r.Height != 160 {
		t.Errorf("the server answered for %d×%d, want the photo as shown, 240×160", r.Width, r.Height)
	}
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("canvas").dataset.natural`))
	if err != nil || shown != "240x160" {
		t.Errorf("the browser shows the photo as %q (%v), want 240x160: it applies EXIF orientation", shown, err)
	}
	note, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("note")))
	if strings.Contains(note, "EXIF") || strings.Contains(note, "stored") {
		t.Errorf("the page still warns about the photo's orientation: %q", note)
	}

	// On the canvas, in the photo's pixels as shown: each square's own colour beside where its
	// points were found (clear of the markers), and the marker drawn last there (the right eye
	// on the blue square, the right ear's outer base on the red one) at the point.
	type probe struct {
		what   string
		x, y   float64
		colour [3]int
	}
	right := [3]int{0xe1, 0x1d, 0x74}
	probes := []probe{
		{"the red square", redAt.X + 22, redAt.Y - 22, [3]int{230, 20, 20}},
		{"the blue square", blueAt.X - 22, blueAt.Y + 22, [3]int{20, 20, 230}},
		{"the marker on the red square", r.Points[8].X, r.Points[8].Y, right},
		{"the marker on the blue square", r.Points[1].X, r.Points[1].Y, right},
	}
	if math.Hypot(r.Points[1].X-blueAt.X, r.Points[1].Y-blueAt.Y) > 1.5 || math.Hypot(r.Points[8].X-redAt.X, r.Points[8].Y-redAt.Y) > 1.5 {
		t.Errorf("points %+v, %+v; want the squares' centres %v, %v", r.Points[8], r.Points[1], redAt, blueAt)
	}
	var at [][2]float64
	for _, p := range probes {
		at = append(at, [2]float64{p.x, p.y})
	}
	arg, _ := json.Marshal(at)
	pixels, err := chromedp.Run(ctx, chromedp.Evaluate[[][]int](`((at) => {
		const c = document.getElementById("canvas"), g = c.getContext("2d");
		const s = +c.dataset.scale, pad = +c.dataset.pad, dpr = c.width / parseFloat(c.style.width);
		return at.map(([x, y]) => [...g.getImageData(Math.round((pad + x * s) * dpr), Math.round((pad + y * s) * dpr), 1, 1).data]);
	})(`+string(arg)+`)`))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range probes {
		px := pixels[i]
		if len(px) != 4 || !near(px[0], p.colour[0]) || !near(px[1], p.colour[1]) || !near(px[2], p.colour[2]) {
			t.Errorf("%s at (%.0f, %.0f): canvas pixel %v, want %v", p.what, p.x, p.y, px, p.colour)
		}
	}
}

// TestBrowserAgreesOnOrientation shows JPEGs carrying each EXIF orientation, malformed EXIF
// blocks, and PNGs with an eXIf chunk in Chromium, and checks that the browser shows each as catmark decodes it: the same
// size and the same colour in each quarter of a picture of four coloured quarters. The points
// the server returns are in the frame the page shows only where the two agree.
func TestBrowserAgreesOnOrientation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped in -short mode")
	}
	chromium := findChromium()
	if chromium == "" {
		t.Skip("no Chromium installed (apt-get install chromium, or set CATMARK_CHROMIUM to a Chrome binary)")
	}
	colours := [4][3]uint8{{220, 30, 30}, {30, 200, 30}, {30, 30, 220}, {230, 220, 30}}
	stored := imgproc.New(64, 40)
	for y := range 40 {
		for x := range 64 {
			c := colours[2*(y/20)+x/32]
			stored.Set(x, y, c[0], c[1], c[2])
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, stored.Image(), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	good := exiftest.Orientation(le, 6)
	set16 := func(tiff []byte, at int, v uint16) []byte {
		c := append([]byte{}, tiff...)
		le.PutUint16(c[at:], v)
		return c
	}
	e := exiftest.OrientationEntry
	cases := map[string][]byte{}
	for o := range uint16(9) {
		cases[fmt.Sprintf("orientation %d", o)] = exiftest.Orientation(le, o)
		cases[fmt.Sprintf("orientation %d, big-endian", o)] = exiftest.Orientation(binary.BigEndian, o)
	}
	for name, tiff := range map[string][]byte{
		"type LONG":                  set16(good, e+2, 4),
		"count 2":                    set16(good, e+4, 2),
		"IFD offset outside":         set16(good, 4, 0x7fff),
		"IFD cut before the tag":     good[:e+6],
		"65535 entries declared":     set16(good, 8, 0xffff),
		"65535 entries, tag cut off": set16(good[:e+6], 8, 0xffff),
		"not TIFF":                   []byte("JUNKJUNKJUNK"),
	} {
		cases[name] = tiff
	}

	ts := httptest.NewServer(newServer(t, squareDetector{}, Options{}))
	defer ts.Close()
	ctx, cancel := context.WithTimeout(startBrowser(t, chromium), 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/")); err != nil {
		t.Fatal(err)
	}
	// quarters names the colour at the centre of each quarter of img: 0 to 3, -1 for none.
	quarters := func(w, h int, at func(x, y int) [3]int) [4]int {
		var q [4]int
		for k := range 4 {
			c := at(w/4+(k%2)*w/2, h/4+(k/2)*h/2)
			q[k] = -1
			for i, want := range colours {
				if near(c[0], int(want[0])) && near(c[1], int(want[1])) && near(c[2], int(want[2])) {
					q[k] = i
				}
			}
		}
		return q
	}
	files := map[string][]byte{}
	for name, tiff := range cases {
		data, err := exiftest.WithExif(b.Bytes(), tiff)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = data
	}
	var p bytes.Buffer
	if err := png.Encode(&p, stored.Image()); err != nil {
		t.Fatal(err)
	}
	for _, o := range []uint16{5, 6} { // a PNG's eXIf chunk
		data, err := exiftest.WithPNGExif(p.Bytes(), exiftest.Orientation(binary.BigEndian, o))
		if err != nil {
			t.Fatal(err)
		}
		files[fmt.Sprintf("PNG, orientation %d", o)] = data
	}
	for name, data := range files {
		img, format, err := imgproc.DecodeBytes(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		m := imgproc.FromImage(img)
		want := quarters(m.W, m.H, func(x, y int) [3]int {
			r, g, b := m.At(x, y)
			return [3]int{int(r), int(g), int(b)}
		})
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`new Promise((resolve) => {
			const im = new Image();
			im.onload = () => {
				const w = im.naturalWidth, h = im.naturalHeight, c = document.createElement("canvas");
				c.width = w; c.height = h;
				const g = c.getContext("2d");
				g.drawImage(im, 0, 0);
				const out = [w, h];
				for (let k = 0; k < 4; k++) {
					const x = Math.floor(w / 4) + (k % 2) * Math.floor(w / 2), y = Math.floor(h / 4) + Math.floor(k / 2) * Math.floor(h / 2);
					out.push(...g.getImageData(x, y, 1, 1).data.slice(0, 3));
				}
				resolve(out);
			};
			im.onerror = () => resolve([]);
			im.src = "data:image/`+format+`;base64,`+base64.StdEncoding.EncodeToString(data)+`";
		})`, chromedp.EvalAwaitPromise))
		if err != nil || len(got) != 14 {
			t.Fatalf("%s: the browser gave %v, %v", name, got, err)
		}
		shown := quarters(got[0], got[1], func(x, y int) [3]int {
			k := 2*(y/(got[1]/2)) + x/(got[0]/2)
			return [3]int{got[2+3*k], got[3+3*k], got[4+3*k]}
		})
		if got[0] != m.W || got[1] != m.H || shown != want {
			o, rerr := imgproc.ReadOrientation(data)
			t.Errorf("%s: Chromium shows %d×%d with quarters %v; catmark decodes %d×%d with %v (orientation %d, %v)", name, got[0], got[1], shown, m.W, m.H, want, o, rerr)
		}
	}
}

package server

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pngHeaderDepth is a PNG signature and IHDR of a w×h image of the given bit depth and colour
// type, then one empty IDAT chunk: enough for the header checks, not for decoding.
func pngHeaderDepth(w, h uint32, depth, colorType byte) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		c := append([]byte(typ), data...)
		b.Write(c)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(c))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = depth, colorType
	chunk("IHDR", ihdr)
	chunk("IDAT", nil)
	return b.Bytes()
}

// Photos under the detector's minimum size get 422 naming it, not a detector failure; the
// decoded-memory bound refuses a 16-bit PNG whose pixels alone pass.
func TestLandmarksLimits(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opt     Options
		body    []byte
		status  int
		mention []string
	}{
		{"1×1 photo", Options{}, makePNG(t, 1, 1), 422, []string{"1×1", "too small", "16×16"}},
		{"15 px high", Options{}, makePNG(t, 200, 15), 422, []string{"200×15", "16×16"}},
		{"16×16 photo", Options{}, makePNG(t, 16, 16), 200, nil},
		{"MinSide option", Options{MinSide: 40}, makePNG(t, 32, 64), 422, []string{"40×40"}},
		// 7999×5000 pixels pass the pixel limit, but at 16 bits RGBA they decode to 320 MB.
		{"16-bit RGBA 7999×5000", Options{}, pngHeaderDepth(7999, 5000, 16, 6), 422, []string{"16-bit PNG", "320 MB", "256 MiB"}},
		{"8-bit grey 7999×5000", Options{}, pngHeaderDepth(7999, 5000, 8, 0), 400, []string{"PNG"}}, // 40 MB: passes, then fails to decode
		{"MaxDecodedBytes option", Options{MaxDecodedBytes: 50_000}, makePNG(t, 200, 100), 422, []string{"80000 bytes", "50000 bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, templateDetector{}, tc.opt)
			code, body, hdr := do(t, s, post(tc.body, "image/png"))
			if code != tc.status {
				t.Fatalf("status %d, want %d: %s", code, tc.status, body)
			}
			if hdr.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("JSON answer %d without X-Content-Type-Options: nosniff", code)
			}
			if code == 200 {
				return
			}
			msg := errorMessage(t, body)
			for _, m := range tc.mention {
				if !strings.Contains(msg, m) {
					t.Errorf("error %q does not mention %q", msg, m)
				}
			}
		})
	}
}

// A multipart file name loses its folders, backslashed or not, as a raw body's name does.
func TestUploadNamesSanitisedAlike(t *testing.T) {
	s := newServer(t, templateDetector{}, Options{})
	png := makePNG(t, 32, 32)
	for _, name := range []string{`C:\photos\cat.png`, `photos/cat.png`, `..\..\cat.png`, `cat.png`} {
		mp, mpType := multipartBody(t, "photo", name, png)
		_, mpBody, _ := do(t, s, post(mp, mpType))
		raw := post(png, "image/png")
		raw.URL.RawQuery = "name=" + strings.NewReplacer(`\`, "%5C", "/", "%2F").Replace(name)
		_, rawBody, _ := do(t, s, raw)
		mpPath, rawPath := decodeResult(t, mpBody).Path, decodeResult(t, rawBody).Path
		if mpPath != "cat.png" || rawPath != "cat.png" {
			t.Errorf("name %q: multipart reports %q, raw body %q; want both cat.png", name, mpPath, rawPath)
		}
	}
}

// Every JSON answer says nosniff, and the page may not be framed.
func TestSecurityHeaders(t *testing.T) {
	s := newServer(t, fixedDetector{}, Options{})
	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/healthz", nil),
		httptest.NewRequest(http.MethodGet, "/nowhere", nil),
		post([]byte("not a photo"), "image/jpeg"),
		post(makePNG(t, 32, 32), "image/png"),
	} {
		code, _, hdr := do(t, s, req)
		if hdr.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: %d without X-Content-Type-Options: nosniff", req.Method, req.URL.Path, code)
		}
	}
	_, _, hdr := do(t, s, httptest.NewRequest(http.MethodGet, "/", nil))
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("page CSP %q lets other sites frame the page", csp)
	}
}

// holdBody opens a connection to addr and sends a POST declaring n body bytes, then all of them
// but the last. It returns the connection and the status of the answer when one comes before
// the body is complete: within wait, or within 300 ms of sending the bytes; 0 when none came.
func holdBody(t *testing.T, addr string, n int64, wait time.Duration) (net.Conn, int) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /v1/landmarks HTTP/1.1\r\nHost: test\r\nContent-Type: image/png\r\nContent-Length: %d\r\n\r\n", n)
	status := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			status <- -1
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		chunk := make([]byte, 64<<10)
		for left := n - 1; left > 0; {
			k := min(left, int64(len(chunk)))
			if _, err := c.Write(chunk[:k]); err != nil {
				return // the server answered and closed
			}
			left -= k
		}
	}()
	timeout := time.After(wait)
	select {
	case code := <-status:
		return c, code
	case <-sent:
	case <-timeout:
		return c, 0
	}
	select {
	case code := <-status:
		return c, code
	case <-time.After(300 * time.Millisecond):
		return c, 0
	}
}

// The bodies held in memory by all requests together are bounded: with room for two 1 MiB
// bodies, a third connection holding one gets 503 at once, naming the limit, and the room
// comes back when the first two are answered.
func TestBodiesInFlightBounded(t *testing.T) {
	s := newServer(t, templateDetector{}, Options{MaxBodyBytes: 1 << 20, MaxBodyBytesInFlight: 5 << 19})
	ts := httptest.NewServer(s)
	defer ts.Close()
	addr := strings.TrimPrefix(ts.URL, "http://")
	var held []net.Conn
	for i := range 2 {
		c, code := holdBody(t, addr, 1<<20, 300*time.Millisecond)
		if code != 0 {
			t.Fatalf("connection %d was answered %d before its body was complete", i, code)
		}
		held = append(held, c)
	}
	waitFor(t, func() bool { return s.body.inUse() >= 2<<20 })
	_, code := holdBody(t, addr, 1<<20, 5*time.Second)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("a third 1 MiB body beside two held ones: status %d, want 503", code)
	}
	resp, err := http.Post(ts.URL+"/v1/landmarks", "", bytes.NewReader(make([]byte, 600<<10)))
	if err != nil {
		t.Fatal(err)
	}
	msg := errorMessage(t, readAllBody(t, resp))
	if resp.StatusCode != 503 || !strings.Contains(msg, "2560 KiB") {
		t.Errorf("a 600 KiB body beside two held ones: %d %q, want 503 naming the 2560 KiB limit", resp.StatusCode, msg)
	}
	for _, c := range held { // complete the held bodies: they are answered (400, zeros are no photo)
		c.Write([]byte{0})
	}
	waitFor(t, func() bool { return s.body.inUse() == 0 })
	resp, err = http.Post(ts.URL+"/v1/landmarks", "image/png", bytes.NewReader(makePNG(t, 64, 64)))
	if err != nil {
		t.Fatal(err)
	}
	if body := readAllBody(t, resp); resp.StatusCode != 200 {
		t.Errorf("after the held bodies were answered: %d %s, want 200", resp.StatusCode, body)
	}
}

func readAllBody(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// vmHWM reads a process's peak resident set size from /proc, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// Sixty connections each holding a 20 MiB body (all but its last byte sent) keep a server with
// the default options under 1 GiB of resident memory: the excess gets 503 at once. The server
// runs in a child process (this test binary again) so that its peak RSS is its own.
func TestBodiesInFlightRSS(t *testing.T) {
	if os.Getenv("CATMARK_RSS_CHILD") == "1" {
		s := New(templateDetector{}, Options{Logger: quietLogger()})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println(ln.Addr())
		go http.Serve(ln, s)
		io.Copy(io.Discard, os.Stdin) // until the parent closes it
		return
	}
	if testing.Short() {
		t.Skip("sends about 300 MB over loopback")
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestBodiesInFlightRSS$")
	cmd.Env = append(os.Environ(), "CATMARK_RSS_CHILD=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() }()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	addr = strings.TrimSpace(addr)
	const conns, size = 60, 20 << 20
	codes := make(chan int, conns)
	for range conns {
		go func() { _, code := holdBody(t, addr, size, 20*time.Second); codes <- code }()
	}
	refused, held := 0, 0
	for range conns {
		switch <-codes {
		case http.StatusServiceUnavailable:
			refused++
		case 0:
			held++
		}
	}
	peak := vmHWM(t, cmd.Process.Pid)
	t.Logf("%d connections held, %d refused with 503; server peak RSS %d MiB", held, refused, peak>>20)
	if peak >= 1<<30 {
		t.Errorf("server peak RSS %d MiB with %d connections holding 20 MiB bodies, want under 1 GiB", peak>>20, conns)
	}
	if refused == 0 || held*size > 256<<20 {
		t.Errorf("%d bodies of 20 MiB held and %d refused; want at most 256 MiB held, the rest refused", held, refused)
	}
}

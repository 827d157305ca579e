package catdata

import (
	"archive/zip"
	"bytes"
	"image"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// catText is a valid annotation.
const catText = "9 10 10 30 10 20 25 5 8 8 2 15 5 25 5 32 2 35 8 "

// smallJPEG encodes a w×h grey-ish colour photo.
func smallJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// problemsByName maps a source's scan problems and load failures to their reasons.
func problemsByName(t *testing.T, s *Source) map[string]Reason {
	t.Helper()
	got := map[string]Reason{}
	for _, p := range s.Problems {
		got[p.Name] = p.Reason
	}
	for i, e := range s.Entries {
		if _, _, err := s.Load(i); err != nil {
			p, ok := err.(*Problem)
			if !ok {
				t.Fatalf("Load(%s) = %v, not a *Problem", e.Name, err)
			}
			got[e.Name] = p.Reason
		}
	}
	return got
}

// Zip members with unsafe names are reported, not dropped; members over the photo limit are
// refused from their declared size, unread; a member that lies about its size is still bounded.
func TestZipHardening(t *testing.T) {
	zpath := filepath.Join(t.TempDir(), "cats.zip")
	f, err := os.Create(zpath)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	add := func(name string, data []byte) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	add("good.jpg", smallJPEG(t, 40, 40))
	add("good.jpg.cat", []byte(catText))
	add("../../x", []byte("escape"))
	add("../evil.jpg", smallJPEG(t, 40, 40))
	add("/abs.jpg.cat", []byte(catText))
	// 21 MiB of zeros: 21 KB compressed, one MiB over the 20 MiB photo limit once inflated.
	big := append(smallJPEG(t, 40, 40), make([]byte, 21<<20)...)
	add("big.jpg", big)
	add("big.jpg.cat", []byte(catText))
	// A member declaring 100 bytes whose data inflates to 21 MiB.
	var raw bytes.Buffer
	{
		zw2 := zip.NewWriter(&raw)
		w, _ := zw2.Create("liar.jpg")
		w.Write(big)
		zw2.Close()
	}
	zr, err := zip.NewReader(bytes.NewReader(raw.Bytes()), int64(raw.Len()))
	if err != nil {
		t.Fatal(err)
	}
	hdr := zr.File[0].FileHeader
	hdr.UncompressedSize64 = 100
	rc, err := zr.File[0].OpenRaw()
	if err != nil {
		t.Fatal(err)
	}
	w, err := zw.CreateRaw(&hdr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, rc); err != nil {
		t.Fatal(err)
	}
	add("liar.jpg.cat", []byte(catText))
	zw.Close()
	f.Close()

	src, err := Scan(zpath)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	got := problemsByName(t, src)
	want := map[string]Reason{"../../x": UnsafeName, "../evil.jpg": UnsafeName, "/abs.jpg.cat": UnsafeName, "big.jpg": TooLarge}
	for name, r := range want {
		if got[name] != r {
			t.Errorf("%s: reason %q, want %q (all: %v)", name, got[name], r, got)
		}
	}
	if r, ok := got["liar.jpg"]; !ok || (r != TooLarge && r != Unreadable) {
		t.Errorf("liar.jpg (declares 100 bytes, holds 21 MiB): reason %q, want too large or unreadable", r)
	}
	if _, bad := got["good.jpg"]; bad {
		t.Errorf("good.jpg reported: %v", got["good.jpg"])
	}
	for _, e := range src.Entries {
		if strings.Contains(e.Name, "..") {
			t.Errorf("entry %s kept", e.Name)
		}
	}
}

// A named pipe called like a photo is reported without blocking the scan or the load, a zip
// that is a pipe is refused, and a JPEG declaring 30000×30000 pixels is refused from its header.
func TestFolderHardening(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.jpg"), 0o644); err != nil {
		t.Skipf("cannot make a FIFO: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "pipe.jpg.cat"), []byte(catText), 0o644)
	huge := smallJPEG(t, 40, 40)
	sof := bytes.Index(huge, []byte{0xff, 0xc0})
	huge[sof+5], huge[sof+6], huge[sof+7], huge[sof+8] = 30000>>8, 30000&255, 30000>>8, 30000&255
	os.WriteFile(filepath.Join(dir, "huge.jpg"), huge, 0o644)
	os.WriteFile(filepath.Join(dir, "huge.jpg.cat"), []byte(catText), 0o644)
	fifoZip := filepath.Join(t.TempDir(), "pipe.zip")
	syscall.Mkfifo(fifoZip, 0o644)

	done := make(chan map[string]Reason, 1)
	go func() {
		src, err := Scan(dir)
		if err != nil {
			t.Error(err)
			done <- nil
			return
		}
		defer src.Close()
		done <- problemsByName(t, src)
	}()
	select {
	case got := <-done:
		if got["pipe.jpg"] != NotRegular || got["huge.jpg"] != TooLarge {
			t.Errorf("reasons %v; want pipe.jpg %q and huge.jpg %q", got, NotRegular, TooLarge)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("scanning a folder with a named pipe blocks")
	}
	zerr := make(chan error, 1)
	go func() { _, err := Scan(fifoZip); zerr <- err }()
	select {
	case err := <-zerr:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("Scan(a pipe named .zip) = %v, want an error saying it is not a regular file", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Scan(a pipe named .zip) blocks")
	}
}

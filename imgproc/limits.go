package imgproc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"strconv"
)

// Errors that Limits' methods wrap when a photo is outside the limits.
var (
	// ErrTooLarge: the file, its dimensions, the memory its decoding takes or its number of JPEG
	// scans is over the limits.
	ErrTooLarge = errors.New("image too large")
	// ErrTooSmall: the image is narrower or lower than Limits.MinSide.
	ErrTooSmall = errors.New("image too small")
	// ErrNotRegular: the path names a named pipe, a device, a socket or a folder, not a file.
	ErrNotRegular = errors.New("not a regular file")
)

// Limits bounds what reading and decoding one photo may cost. Everything is checked from the
// file's size and header before any pixel is decoded. A zero field means no limit, except
// MinSide, where zero means 1.
//
// Decode applies the photo's EXIF orientation (see ReadOrientation), so that its pixels, and
// the points found on them, are in the frame browsers and viewers show; IgnoreOrientation keeps
// the stored pixel grid. The limits apply to the decoded size either way (a turn swaps width
// and height; every limit is the same both ways round).
type Limits struct {
	MaxBytes  int64 // largest encoded file
	MinSide   int   // smallest width and height in pixels
	MaxSide   int   // largest width and height in pixels
	MaxPixels int64 // largest width×height
	// MaxDecodedBytes bounds the memory the decoder allocates, estimated from the header: the
	// decoded pixels (8 bytes a pixel for 16-bit RGBA PNG, 1.5 for a 4:2:0 JPEG), twice that for
	// an interlaced PNG, plus 4 bytes a sample of coefficients for a progressive JPEG, plus 4
	// bytes a pixel for the turned copy of a photo with an EXIF orientation (see Orient).
	MaxDecodedBytes int64
	// MaxScans bounds the scans (SOS markers) of a JPEG: a progressive JPEG can repeat a scan
	// thousands of times at a few bytes each.
	MaxScans int
	// MaxScanSamples bounds the decoder's work on a JPEG: the samples of the components each
	// scan covers, summed over the scans (libjpeg's progressive photos take about 8 a pixel,
	// a baseline one 1.5 to 3).
	MaxScanSamples int64
	// IgnoreOrientation keeps a photo's stored pixel grid, ignoring its EXIF orientation (the
	// frame the Cat Dataset's annotations are in).
	IgnoreOrientation bool
}

// DefaultLimits are the limits of catmark serve, predict and prepare: a 20 MiB file, 8000
// pixels a side, 40 megapixels, 256 MiB of decoder memory, 100 JPEG scans (libjpeg writes 10
// for a progressive colour photo) and 600 million scanned samples (15 passes over 40
// megapixels, about half a second of decoding).
var DefaultLimits = Limits{
	MaxBytes:        20 << 20,
	MaxSide:         8000,
	MaxPixels:       40_000_000,
	MaxDecodedBytes: 256 << 20,
	MaxScans:        100,
	MaxScanSamples:  600_000_000,
}

// Header is what Check learned from a photo's header.
type Header struct {
	Format string // "jpeg" or "png"
	// Width and Height are the size of the image Decode returns: the displayed size when
	// Oriented (swapped from the stored size for orientations 5 to 8), else the stored size.
	Width, Height int
	// Orientation is the photo's EXIF orientation, Upright when it has none or it is malformed.
	Orientation Orientation
	// Oriented reports whether Decode turns the pixels by Orientation: the photo has an
	// orientation other than Upright and the limits do not ignore it.
	Oriented     bool
	Progressive  bool  // a progressive JPEG
	Scans        int   // SOS markers of a JPEG; 0 for a PNG
	ScanSamples  int64 // samples of the components the JPEG's scans cover, summed
	DecodedBytes int64 // the estimated memory of decoding it (see Limits.MaxDecodedBytes)
}

// ReadAll reads r to the end, failing with an error wrapping ErrTooLarge as soon as it holds
// more than l.MaxBytes; it never reads more than one byte past the limit.
func (l Limits) ReadAll(r io.Reader) ([]byte, error) {
	if l.MaxBytes <= 0 {
		return io.ReadAll(r)
	}
	data, err := io.ReadAll(io.LimitReader(r, l.MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > l.MaxBytes {
		return nil, limitErr(ErrTooLarge, "larger than the limit of %s", sizeString(l.MaxBytes))
	}
	return data, nil
}

// ReadFile reads the file at path (symbolic links followed) within l.MaxBytes. Anything but a
// regular file (a named pipe, a device such as /dev/zero, a socket, a folder) is refused with
// an error wrapping ErrNotRegular, before it is opened, so that a pipe cannot block the read.
func (l Limits) ReadFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, fileKind(st.Mode()))
	}
	if l.MaxBytes > 0 && st.Size() > l.MaxBytes {
		return nil, limitErr(ErrTooLarge, "%s: %s, over the limit of %s", path, sizeString(st.Size()), sizeString(l.MaxBytes))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The file may have been replaced between Stat and Open: check what was opened.
	if st, err = f.Stat(); err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, fileKind(st.Mode()))
	}
	data, err := l.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}

// fileKind names the type of a file that is not regular.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "type " + m.Type().String()
}

// Check identifies data's format and checks its header against l, without decoding pixels.
// Errors wrap ErrUnknownFormat, ErrTruncated or ErrCorrupt for data that is not a readable
// JPEG or PNG header, and ErrTooLarge or ErrTooSmall for a photo outside the limits.
func (l Limits) Check(data []byte) (Header, error) {
	format := Sniff(data)
	if format == "" {
		return Header{}, fmt.Errorf("%w (starts with %s)", ErrUnknownFormat, describeHead(data[:min(len(data), 8)]))
	}
	var cfg image.Config
	var err error
	if format == "jpeg" {
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
	} else {
		cfg, err = png.DecodeConfig(bytes.NewReader(data))
	}
	if err != nil {
		return Header{Format: format}, classify(format, data, err)
	}
	return l.CheckConfig(data, format, cfg)
}

// CheckConfig is Check for a caller that has decoded the header itself (format "jpeg" or
// "png", cfg from image/jpeg's or image/png's DecodeConfig on data): it checks the limits only,
// and its errors wrap ErrCorrupt (an empty image), ErrTooLarge or ErrTooSmall.
func (l Limits) CheckConfig(data []byte, format string, cfg image.Config) (Header, error) {
	h := Header{Format: format, Width: cfg.Width, Height: cfg.Height}
	// A malformed EXIF block reads as Upright: see ReadOrientation.
	h.Orientation, _ = ReadOrientation(data)
	h.Oriented = !l.IgnoreOrientation && h.Orientation != Upright
	if h.Oriented {
		h.Width, h.Height = h.Orientation.Size(cfg.Width, cfg.Height)
	}
	w, ht := int64(h.Width), int64(h.Height)
	if w <= 0 || ht <= 0 {
		return h, fmt.Errorf("%w: the %s header gives an empty image (%d×%d pixels)", ErrCorrupt, format, w, ht)
	}
	minSide := max(l.MinSide, 1)
	if h.Width < minSide || h.Height < minSide {
		return h, limitErr(ErrTooSmall, "image of %d×%d pixels is too small: the smallest accepted is %d×%d", w, ht, minSide, minSide)
	}
	if (l.MaxSide > 0 && (h.Width > l.MaxSide || h.Height > l.MaxSide)) || (l.MaxPixels > 0 && w*ht > l.MaxPixels) {
		return h, limitErr(ErrTooLarge, "image of %d×%d pixels is too large: the limit is %s pixels a side and %s megapixels in all; scale it down", w, ht, sideString(l.MaxSide), strconv.FormatFloat(float64(l.MaxPixels)/1e6, 'g', 4, 64))
	}
	if format == "jpeg" {
		j := scanJPEG(data)
		h.Progressive, h.Scans, h.ScanSamples = j.progressive, j.scans, j.samples
		h.DecodedBytes = j.decodedBytes(cfg.Width, cfg.Height)
		if l.MaxScans > 0 && j.scans > l.MaxScans {
			return h, limitErr(ErrTooLarge, "the JPEG has %d scans, more than the limit of %d", j.scans, l.MaxScans)
		}
		if l.MaxScanSamples > 0 && j.samples > l.MaxScanSamples {
			return h, limitErr(ErrTooLarge, "the JPEG's %d scans cover %d million samples, more than the limit of %d million",
				j.scans, j.samples/1_000_000, l.MaxScanSamples/1_000_000)
		}
	} else {
		h.DecodedBytes = pngDecodedBytes(data, cfg)
	}
	if h.Oriented {
		h.DecodedBytes += orientedBytes * w * ht // Orient's copy
	}
	if l.MaxDecodedBytes > 0 && h.DecodedBytes > l.MaxDecodedBytes {
		return h, limitErr(ErrTooLarge, "decoding the %d×%d %s would take %s of memory, over the limit of %s", w, ht, describeKind(h, cfg), sizeString(h.DecodedBytes), sizeString(l.MaxDecodedBytes))
	}
	return h, nil
}

// Decode checks data against l and decodes it, stopping with ctx's error when ctx ends before
// the decoder has read all of data; unless l.IgnoreOrientation, the image is turned by the
// photo's EXIF orientation (h.Oriented). Errors are those of Check, the decoding errors of
// DecodeBytes, or ctx's error (wrapped).
func (l Limits) Decode(ctx context.Context, data []byte) (image.Image, Header, error) {
	h, err := l.Check(data)
	if err != nil {
		return nil, h, err
	}
	img, err := DecodeHeader(ctx, data, h)
	return img, h, err
}

// DecodeHeader decodes data whose header Check or CheckConfig has checked into h, and turns it
// by h.Orientation when h.Oriented. Its errors are Decode's.
func DecodeHeader(ctx context.Context, data []byte, h Header) (image.Image, error) {
	img, err := DecodeFormat(ctx, data, h.Format)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil, fmt.Errorf("decoding %s: %w", h.Format, err)
		}
		return nil, classify(h.Format, data, err)
	}
	if h.Oriented {
		img = Orient(img, h.Orientation)
	}
	return img, nil
}

// orientedBytes is the memory a pixel of Orient's copy takes (an *image.RGBA).
const orientedBytes = 4

// DecodeFormat decodes data as format ("jpeg" or "png") with the standard decoders, whose
// errors it returns unchanged; the decoder reads data through a reader that fails with ctx's
// error once ctx is done, so an abandoned decode stops at its next read (every 512 bytes). It
// checks no limits: call Limits.Check or CheckConfig first.
func DecodeFormat(ctx context.Context, data []byte, format string) (image.Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := &ctxReader{ctx: ctx, r: bytes.NewReader(data)}
	var img image.Image
	var err error
	switch format {
	case "jpeg":
		img, err = jpeg.Decode(r)
	case "png":
		img, err = png.Decode(r)
	default:
		return nil, fmt.Errorf("%w: format %q", ErrUnknownFormat, format)
	}
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return img, nil
}

// limitError is a photo outside the limits: its message alone, wrapping ErrTooLarge or
// ErrTooSmall.
type limitError struct {
	kind error
	msg  string
}

func (e *limitError) Error() string { return e.msg }
func (e *limitError) Unwrap() error { return e.kind }

func limitErr(kind error, format string, a ...any) error {
	return &limitError{kind: kind, msg: fmt.Sprintf(format, a...)}
}

// ctxReader reads from r until ctx is done, then fails with ctx's error.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

// ctxReadSize caps each read, so that the decoder comes back for more, and ctx is checked,
// every few scans of a JPEG.
const ctxReadSize = 512

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p[:min(len(p), ctxReadSize)])
}

// jpegHeader is what scanJPEG found walking a JPEG's markers.
type jpegHeader struct {
	progressive bool
	scans       int
	samples     int64    // samples covered by the scans: each scan's components' blocks × 64
	w, h        int      // the frame header's size
	comps       [][2]int // horizontal and vertical sampling factors, per component
	ids         []byte
	adobeRGB    bool // an Adobe APP14 segment with transform 0
}

// compSamples is the number of samples of component k, padded to whole MCUs.
func (j *jpegHeader) compSamples(k int) int64 {
	hmax, vmax := 1, 1
	for _, c := range j.comps {
		hmax, vmax = max(hmax, c[0]), max(vmax, c[1])
	}
	mxx := (int64(j.w) + 8*int64(hmax) - 1) / (8 * int64(hmax))
	myy := (int64(j.h) + 8*int64(vmax) - 1) / (8 * int64(vmax))
	return mxx * myy * int64(j.comps[k][0]*j.comps[k][1]) * 64
}

// scanJPEG walks data's marker segments, as image/jpeg does between scans, counting the SOS
// markers and reading the frame header (SOF0, SOF1 or SOF2) and Adobe's APP14. Entropy-coded
// data is skipped up to the next marker that is neither a byte-stuffed 0xFF00 nor a restart
// marker. It stops at EOI or at the end of data and never fails: a broken file is left to the
// decoder to report.
func scanJPEG(data []byte) jpegHeader {
	var j jpegHeader
	i := 2 // after SOI
	for i < len(data) {
		// Find the next marker: image/jpeg skips extraneous bytes, fill bytes and 0xFF00.
		if data[i] != 0xff {
			i++
			continue
		}
		for i < len(data) && data[i] == 0xff {
			i++
		}
		if i >= len(data) {
			break
		}
		m := data[i]
		i++
		switch {
		case m == 0x00, m >= 0xd0 && m <= 0xd7, m == 0x01: // stuffed byte, RSTn, TEM: no segment
			continue
		case m == 0xd9: // EOI
			return j
		}
		if i+2 > len(data) {
			break
		}
		n := int(binary.BigEndian.Uint16(data[i:]))
		if n < 2 {
			break
		}
		seg := data[i+2 : min(len(data), i+n)]
		i += n
		switch m {
		case 0xc0, 0xc1, 0xc2:
			j.progressive = m == 0xc2
			if len(seg) >= 6 {
				j.h, j.w = int(binary.BigEndian.Uint16(seg[1:])), int(binary.BigEndian.Uint16(seg[3:]))
				nc := int(seg[5])
				j.comps, j.ids = nil, nil
				for k := 0; k < nc && 6+3*k+2 < len(seg); k++ {
					hv := seg[6+3*k+1]
					j.ids = append(j.ids, seg[6+3*k])
					j.comps = append(j.comps, [2]int{max(int(hv>>4), 1), max(int(hv&15), 1)})
				}
			}
		case 0xee:
			if len(seg) >= 12 && string(seg[:5]) == "Adobe" && seg[11] == 0 {
				j.adobeRGB = true
			}
		case 0xda:
			j.scans++
			if len(seg) >= 1 {
				for k := 0; k < int(seg[0]) && 1+2*k < len(seg); k++ {
					if c := bytes.IndexByte(j.ids, seg[1+2*k]); c >= 0 {
						j.samples += j.compSamples(c)
					}
				}
			}
			// Skip the entropy-coded data up to the next real marker.
			for i < len(data) {
				if data[i] != 0xff || i+1 >= len(data) {
					i++
					continue
				}
				if b := data[i+1]; b == 0x00 || (b >= 0xd0 && b <= 0xd7) {
					i += 2
					continue
				}
				break
			}
		}
	}
	return j
}

// decodedBytes estimates what image/jpeg allocates for a w×h image with j's components: the
// padded sample planes, the progressive coefficients (a [64]int32 per 8×8 block), and the RGBA
// or CMYK copy it makes of RGB and four-component images.
func (j jpegHeader) decodedBytes(w, h int) int64 {
	if len(j.comps) == 0 { // no frame header found: assume three full-resolution components
		j.comps, j.ids = [][2]int{{1, 1}, {1, 1}, {1, 1}}, []byte{1, 2, 3}
	}
	j.w, j.h = w, h
	comps := j.comps
	perSample := int64(1)
	if j.progressive {
		perSample += 4
	}
	var total int64
	for k := range comps {
		total += j.compSamples(k) * perSample
	}
	rgb := len(comps) == 3 && (j.adobeRGB || string(j.ids) == "RGB")
	if len(comps) == 4 || rgb || len(comps) == 3 && !standardSampling(comps) {
		total += 4 * int64(w) * int64(h)
	}
	return total
}

// standardSampling reports whether three components have a chroma subsampling image.YCbCr
// holds directly (the luma factors a multiple of both chroma ones, the chroma ones equal).
func standardSampling(c [][2]int) bool {
	return c[1] == c[2] && c[0][0]%c[1][0] == 0 && c[0][1]%c[1][1] == 0
}

// pngDecodedBytes estimates what image/png allocates: the image in the colour model
// DecodeConfig reports (8-bit RGB becomes RGBA, 16-bit anything RGBA64, grey stays grey), twice
// for an interlaced PNG (each pass is decoded into an image of its own first).
func pngDecodedBytes(data []byte, cfg image.Config) int64 {
	var bpp int64
	switch cfg.ColorModel {
	case color.GrayModel:
		bpp = 1
	case color.Gray16Model:
		bpp = 2
	case color.RGBAModel, color.NRGBAModel:
		bpp = 4
	case color.RGBA64Model, color.NRGBA64Model:
		bpp = 8
	default: // paletted
		bpp = 1
	}
	n := bpp * int64(cfg.Width) * int64(cfg.Height)
	if len(data) > 28 && data[28] != 0 { // IHDR's interlace method: Adam7
		n *= 2
	}
	return n
}

// describeKind names a photo's encoding in a limit error: "progressive JPEG", "16-bit PNG", …
func describeKind(h Header, cfg image.Config) string {
	if h.Format == "jpeg" {
		if h.Progressive {
			return "progressive JPEG"
		}
		return "JPEG"
	}
	switch cfg.ColorModel {
	case color.Gray16Model, color.RGBA64Model, color.NRGBA64Model:
		return "16-bit PNG"
	}
	return "PNG"
}

func sideString(n int) string {
	if n <= 0 {
		return "any number of"
	}
	return strconv.Itoa(n)
}

// sizeString writes a byte count in the largest binary unit that divides it evenly (or in MB,
// rounded, when none does), else in bytes.
func sizeString(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MB", float64(n)/1e6)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

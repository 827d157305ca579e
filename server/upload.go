package server

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strings"

	"github.com/catmark/catmark/imgproc"
)

// photoFields are the multipart field names that may carry the photo, in order of preference.
var photoFields = []string{"photo", "file", "image"}

// upload is a photo read from a request, its header checked but its pixels not yet decoded.
type upload struct {
	data   []byte
	format string // "jpeg" or "png"
	name   string
	w, h   int
	// decoded is the memory decoding it takes, estimated from its header (imgproc.Header).
	decoded int64
	// turn is the EXIF orientation decoding applies (Upright for none, or when the server
	// ignores orientation); w and h are the size after it.
	turn imgproc.Orientation
}

// readPhoto reads the photo from r's body (raw or multipart) into memory reserved in res,
// identifies its format from its bytes and checks its dimensions from its header.
func (s *Server) readPhoto(w http.ResponseWriter, r *http.Request, res *reservation) (*upload, *httpError) {
	limit := s.opt.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	// Reserve the declared length before reading a byte of it: the excess gets 503 at once.
	if r.ContentLength > 0 && !res.grow(r.ContentLength) {
		return nil, s.busyBodies()
	}

	ct := r.Header.Get("Content-Type")
	mediaType := ""
	var params map[string]string
	if ct != "" {
		var err error
		mediaType, params, err = mime.ParseMediaType(ct)
		if err != nil {
			return nil, badRequest(reasonBadContentType, "cannot parse Content-Type %q: %v", ct, err)
		}
	}

	var (
		data []byte
		name string
		herr *httpError
	)
	switch {
	case mediaType == "multipart/form-data":
		data, name, herr = s.readMultipart(r, params["boundary"], limit, res)
	case mediaType == "", mediaType == "application/octet-stream", strings.HasPrefix(mediaType, "image/"):
		data, herr = s.readAll(r.Body, limit, r.ContentLength, res)
		name = rawName(r)
	default:
		return nil, &httpError{status: http.StatusUnsupportedMediaType, reason: reasonUnsupportedType, msg: fmt.Sprintf(
			"unsupported Content-Type %s: send a JPEG or PNG photo as the body (Content-Type image/jpeg, image/png or application/octet-stream) or as the file field %q of a multipart/form-data form",
			mediaType, photoFields[0])}
	}
	if herr != nil {
		return nil, herr
	}
	if len(data) == 0 {
		return nil, badRequest(reasonNoPhoto, "%s: empty photo: the request carried no image data", name)
	}

	format, herr := sniff(data, name)
	if herr != nil {
		return nil, herr
	}
	var (
		cfg image.Config
		err error
	)
	if format == "jpeg" {
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
	} else {
		cfg, err = png.DecodeConfig(bytes.NewReader(data))
	}
	if err != nil {
		return nil, decodeFailed(name, format, data, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, badRequest(reasonCorrupt, "%s: the %s header gives an empty image (%d×%d pixels)", name, strings.ToUpper(format), cfg.Width, cfg.Height)
	}
	// Sides, pixels, decoded bytes and JPEG scans, with the limits predict and prepare apply.
	h, err := s.lim.CheckConfig(data, format, cfg)
	if err != nil {
		if errors.Is(err, imgproc.ErrTooLarge) {
			return nil, &httpError{status: http.StatusUnprocessableEntity, reason: reasonImageTooLarge, msg: name + ": " + err.Error()}
		}
		if errors.Is(err, imgproc.ErrTooSmall) {
			return nil, &httpError{status: http.StatusUnprocessableEntity, reason: reasonImageTooSmall, msg: name + ": " + err.Error()}
		}
		return nil, decodeFailed(name, format, data, err)
	}
	up := &upload{data: data, format: format, name: name, w: h.Width, h: h.Height, decoded: h.DecodedBytes, turn: imgproc.Upright}
	if h.Oriented {
		up.turn = h.Orientation
	}
	return up, nil
}

// busyBodies is the 503 for a body that the budget of bodies in flight cannot hold.
func (s *Server) busyBodies() *httpError {
	return unavailable(reasonBodiesInFlight, fmt.Sprintf("server busy: the request bodies being read or processed already take the limit of %s; try again shortly",
		sizeString(s.opt.MaxBodyBytesInFlight)))
}

// readAll reads a body under http.MaxBytesReader into memory reserved in res, turning its
// limit error into a 413 and a budget that cannot grow into a 503. declared is the
// Content-Length, or -1.
func (s *Server) readAll(r io.Reader, limit, declared int64, res *reservation) ([]byte, *httpError) {
	size := int64(64 << 10)
	if declared > 0 {
		size = min(declared, limit) + 1 // one more byte to see the end without growing
	}
	size = min(size, limit+1)
	if !res.grow(size) {
		return nil, s.busyBodies()
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			next := min(2*int64(cap(buf)), limit+1)
			if !res.grow(next) {
				return nil, s.busyBodies()
			}
			buf = append(make([]byte, 0, next), buf...)
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, tooLarge(limit)
			}
			return nil, badRequest(reasonBadBody, "cannot read the request body: %v", err)
		}
		if int64(len(buf)) > limit { // a multipart part, not under MaxBytesReader's own count
			return nil, tooLarge(limit)
		}
	}
}

// readMultipart returns the first file among photoFields in a multipart/form-data body, skipping
// other parts.
func (s *Server) readMultipart(r *http.Request, boundary string, limit int64, res *reservation) ([]byte, string, *httpError) {
	if boundary == "" {
		return nil, "", badRequest(reasonBadContentType, "multipart/form-data Content-Type has no boundary parameter")
	}
	mr := multipart.NewReader(r.Body, boundary)
	var seen []string
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, "", tooLarge(limit)
			}
			return nil, "", badRequest(reasonBadBody, "malformed multipart/form-data body: %v", err)
		}
		field := part.FormName()
		if !isPhotoField(field) {
			seen = append(seen, fmt.Sprintf("%q", field))
			if _, err := io.Copy(io.Discard, part); err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					return nil, "", tooLarge(limit)
				}
				return nil, "", badRequest(reasonBadBody, "malformed multipart/form-data body: %v", err)
			}
			continue
		}
		data, herr := s.readAll(part, limit, r.ContentLength, res)
		if herr != nil {
			if herr.status == http.StatusBadRequest {
				herr = badRequest(herr.reason, "malformed multipart/form-data body in field %q: %v", field, herr.msg)
			}
			return nil, "", herr
		}
		// FileName keeps what follows the last slash; backslashes are cut as for a raw body.
		return data, cleanName(part.FileName()), nil
	}
	found := "it has no fields"
	if len(seen) > 0 {
		found = "it has " + strings.Join(seen, ", ")
	}
	return nil, "", badRequest(reasonNoPhoto, "multipart form has no photo: put the image in the file field %q (or %q, %q); %s",
		photoFields[0], photoFields[1], photoFields[2], found)
}

func isPhotoField(name string) bool {
	for _, f := range photoFields {
		if name == f {
			return true
		}
	}
	return false
}

// rawName is the photo's name for a raw body: the query parameter "name", else the filename of a
// Content-Disposition header, else "upload". Only the last path element is kept.
func rawName(r *http.Request) string {
	name := r.URL.Query().Get("name")
	if name == "" {
		if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Disposition")); err == nil {
			name = params["filename"]
		}
	}
	return cleanName(name)
}

// cleanName is the name reported for an uploaded photo: the last element of a slash- or
// backslash-separated path, "upload" when that is empty. Raw and multipart uploads use it alike.
func cleanName(name string) string {
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	if name == "" || name == "." || name == "/" || name == ".." {
		return "upload"
	}
	return name
}

// sniff identifies the photo's format from its first bytes: "jpeg" or "png", a 415 for another
// image format, a 400 for anything else.
func sniff(data []byte, name string) (string, *httpError) {
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xd8\xff")):
		return "jpeg", nil
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return "png", nil
	}
	other := ""
	switch {
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		other = "GIF"
	case len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		other = "WebP"
	case isBMP(data):
		other = "BMP"
	case bytes.HasPrefix(data, []byte("II*\x00")), bytes.HasPrefix(data, []byte("MM\x00*")):
		other = "TIFF"
	case len(data) >= 12 && string(data[4:8]) == "ftyp" && (string(data[8:12]) == "heic" || string(data[8:12]) == "heix" || string(data[8:12]) == "mif1" || string(data[8:12]) == "avif"):
		other = "HEIF/AVIF"
	}
	if other != "" {
		return "", &httpError{status: http.StatusUnsupportedMediaType, reason: reasonUnsupportedFormat, msg: fmt.Sprintf(
			"%s: %s images are not supported; send a JPEG or PNG", name, other)}
	}
	return "", badRequest(reasonNotImage, "%s: not a JPEG or PNG image (the data looks like %s)", name, http.DetectContentType(data))
}

// isBMP reports whether data starts with a BMP file header followed by a known DIB header size.
func isBMP(data []byte) bool {
	if len(data) < 18 || string(data[:2]) != "BM" {
		return false
	}
	switch uint32(data[14]) | uint32(data[15])<<8 | uint32(data[16])<<16 | uint32(data[17])<<24 {
	case 12, 40, 52, 56, 64, 108, 124:
		return true
	}
	return false
}

// decode decodes the pixels of a photo whose header readPhoto checked, and turns them as its
// EXIF orientation says; it stops when the request ends.
func (s *Server) decode(j *job) (image.Image, *httpError) {
	img, err := imgproc.DecodeFormat(j.ctx, j.data, j.format)
	if err != nil {
		if j.ctx.Err() != nil {
			return nil, timeoutError(j.ctx, s.opt.RequestTimeout)
		}
		return nil, decodeFailed(j.name, j.format, j.data, err)
	}
	return imgproc.Orient(img, j.turn), nil
}

func decodeFailed(name, format string, data []byte, err error) *httpError {
	what, reason := "corrupt", reasonCorrupt
	if truncated(data, format) || errors.Is(err, io.ErrUnexpectedEOF) {
		what, reason = "truncated", reasonTruncated
	}
	return badRequest(reason, "%s: %s %s image: %v", name, what, strings.ToUpper(format), err)
}

// truncated reports whether data lacks the end marker of its format: EOI (FF D9) for a JPEG, the
// IEND chunk for a PNG. Trailing zero bytes after a JPEG's marker are tolerated.
func truncated(data []byte, format string) bool {
	if format == "jpeg" {
		return !bytes.HasSuffix(bytes.TrimRight(data, "\x00"), []byte{0xff, 0xd9})
	}
	return !bytes.HasSuffix(data, []byte("IEND\xaeB`\x82"))
}

func tooLarge(limit int64) *httpError {
	return &httpError{status: http.StatusRequestEntityTooLarge, reason: reasonBodyTooLarge, msg: fmt.Sprintf(
		"request body is larger than the limit of %s; send a smaller photo", sizeString(limit))}
}

// sizeString writes a byte count in the largest binary unit that divides it evenly, or in bytes.
func sizeString(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

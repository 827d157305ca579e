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
	"strconv"
	"strings"
)

// photoFields are the multipart field names that may carry the photo, in order of preference.
var photoFields = []string{"photo", "file", "image"}

// upload is a photo read from a request, its header checked but its pixels not yet decoded.
type upload struct {
	data   []byte
	format string // "jpeg" or "png"
	name   string
	w, h   int
}

// readPhoto reads the photo from r's body (raw or multipart), identifies its format from its
// bytes and checks its dimensions from its header.
func (s *Server) readPhoto(w http.ResponseWriter, r *http.Request) (*upload, *httpError) {
	limit := s.opt.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)

	ct := r.Header.Get("Content-Type")
	mediaType := ""
	var params map[string]string
	if ct != "" {
		var err error
		mediaType, params, err = mime.ParseMediaType(ct)
		if err != nil {
			return nil, badRequest("cannot parse Content-Type %q: %v", ct, err)
		}
	}

	var (
		data []byte
		name string
		herr *httpError
	)
	switch {
	case mediaType == "multipart/form-data":
		data, name, herr = readMultipart(r, params["boundary"], limit)
	case mediaType == "", mediaType == "application/octet-stream", strings.HasPrefix(mediaType, "image/"):
		data, herr = readAll(r.Body, limit)
		name = rawName(r)
	default:
		return nil, &httpError{status: http.StatusUnsupportedMediaType, msg: fmt.Sprintf(
			"unsupported Content-Type %s: send a JPEG or PNG photo as the body (Content-Type image/jpeg, image/png or application/octet-stream) or as the file field %q of a multipart/form-data form",
			mediaType, photoFields[0])}
	}
	if herr != nil {
		return nil, herr
	}
	if len(data) == 0 {
		return nil, badRequest("%s: empty photo: the request carried no image data", name)
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
		return nil, badRequest("%s: the %s header gives an empty image (%d×%d pixels)", name, strings.ToUpper(format), cfg.Width, cfg.Height)
	}
	if cfg.Width > s.opt.MaxSide || cfg.Height > s.opt.MaxSide || int64(cfg.Width)*int64(cfg.Height) > s.opt.MaxPixels {
		return nil, &httpError{status: http.StatusUnprocessableEntity, msg: fmt.Sprintf(
			"%s: image of %d×%d pixels is too large: the limit is %d pixels a side and %s megapixels in all; scale it down",
			name, cfg.Width, cfg.Height, s.opt.MaxSide, strconv.FormatFloat(float64(s.opt.MaxPixels)/1e6, 'g', 4, 64))}
	}
	return &upload{data: data, format: format, name: name, w: cfg.Width, h: cfg.Height}, nil
}

// readAll reads a body under http.MaxBytesReader, turning its limit error into a 413.
func readAll(r io.Reader, limit int64) ([]byte, *httpError) {
	data, err := io.ReadAll(r)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(limit)
		}
		return nil, badRequest("cannot read the request body: %v", err)
	}
	return data, nil
}

// readMultipart returns the first file among photoFields in a multipart/form-data body, skipping
// other parts.
func readMultipart(r *http.Request, boundary string, limit int64) ([]byte, string, *httpError) {
	if boundary == "" {
		return nil, "", badRequest("multipart/form-data Content-Type has no boundary parameter")
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
			return nil, "", badRequest("malformed multipart/form-data body: %v", err)
		}
		field := part.FormName()
		if !isPhotoField(field) {
			seen = append(seen, fmt.Sprintf("%q", field))
			if _, err := io.Copy(io.Discard, part); err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					return nil, "", tooLarge(limit)
				}
				return nil, "", badRequest("malformed multipart/form-data body: %v", err)
			}
			continue
		}
		data, herr := readAll(part, limit)
		if herr != nil {
			if herr.status == http.StatusBadRequest {
				herr = badRequest("malformed multipart/form-data body in field %q: %v", field, herr.msg)
			}
			return nil, "", herr
		}
		name := part.FileName()
		if name == "" {
			name = "upload"
		}
		return data, name, nil
	}
	found := "it has no fields"
	if len(seen) > 0 {
		found = "it has " + strings.Join(seen, ", ")
	}
	return nil, "", badRequest("multipart form has no photo: put the image in the file field %q (or %q, %q); %s",
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
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	if name == "" || name == "." || name == "/" {
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
		return "", &httpError{status: http.StatusUnsupportedMediaType, msg: fmt.Sprintf(
			"%s: %s images are not supported; send a JPEG or PNG", name, other)}
	}
	return "", badRequest("%s: not a JPEG or PNG image (the data looks like %s)", name, http.DetectContentType(data))
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

// decode decodes the pixels of a photo whose header readPhoto checked.
func decode(data []byte, format, name string) (image.Image, *httpError) {
	var (
		img image.Image
		err error
	)
	if format == "jpeg" {
		img, err = jpeg.Decode(bytes.NewReader(data))
	} else {
		img, err = png.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return nil, decodeFailed(name, format, data, err)
	}
	return img, nil
}

func decodeFailed(name, format string, data []byte, err error) *httpError {
	what := "corrupt"
	if truncated(data, format) || errors.Is(err, io.ErrUnexpectedEOF) {
		what = "truncated"
	}
	return badRequest("%s: %s %s image: %v", name, what, strings.ToUpper(format), err)
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
	return &httpError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf(
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

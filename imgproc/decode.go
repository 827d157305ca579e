package imgproc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
)

// Errors that Decode and DecodeImage wrap, so that callers can tell bad files apart with
// errors.Is.
var (
	// ErrTruncated: the data ends before the image does (a partial download or copy).
	ErrTruncated = errors.New("truncated image data")
	// ErrUnknownFormat: the data is neither JPEG nor PNG.
	ErrUnknownFormat = errors.New("not a JPEG or PNG image")
	// ErrCorrupt: the data starts as JPEG or PNG but does not decode.
	ErrCorrupt = errors.New("corrupt image data")
)

// Sniff names the format of data from its first bytes: "jpeg", "png", or "" when neither.
func Sniff(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0xff, 0xd8, 0xff}):
		return "jpeg"
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	}
	return ""
}

// DecodeImage decodes a JPEG or PNG image from r without converting it, and returns it with
// its format, "jpeg" or "png". Errors wrap ErrUnknownFormat, ErrTruncated or ErrCorrupt and
// describe the problem; a read error from r is returned wrapped as it is.
func DecodeImage(r io.Reader) (image.Image, string, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(8)
	if err != nil && err != io.EOF {
		return nil, "", fmt.Errorf("reading image: %w", err)
	}
	format := Sniff(head)
	if format == "" {
		return nil, "", fmt.Errorf("%w (starts with %s)", ErrUnknownFormat, describeHead(head))
	}
	var img image.Image
	if format == "jpeg" {
		img, err = jpeg.Decode(br)
	} else {
		img, err = png.Decode(br)
	}
	if err != nil {
		return nil, format, classify(format, err)
	}
	if b := img.Bounds(); b.Empty() {
		return nil, format, fmt.Errorf("%w: %s image is empty (%d×%d)", ErrCorrupt, format, b.Dx(), b.Dy())
	}
	return img, format, nil
}

// Decode decodes a JPEG or PNG image from r into RGB and returns its format, "jpeg" or "png".
// Errors are those of DecodeImage.
func Decode(r io.Reader) (*RGB, string, error) {
	img, format, err := DecodeImage(r)
	if err != nil {
		return nil, format, err
	}
	return FromImage(img), format, nil
}

func classify(format string, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %s data ends early (%v)", ErrTruncated, format, err)
	}
	var fe jpeg.FormatError
	var ue jpeg.UnsupportedError
	switch {
	case errors.As(err, &fe), errors.As(err, &ue):
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, format, err)
	}
	var pfe png.FormatError
	var pue png.UnsupportedError
	switch {
	case errors.As(err, &pfe), errors.As(err, &pue):
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, format, err)
	}
	return fmt.Errorf("decoding %s: %w", format, err)
}

// describeHead shows the first bytes of an unrecognised file: as text when printable, else hex.
func describeHead(head []byte) string {
	if len(head) == 0 {
		return "nothing: the file is empty"
	}
	printable := true
	for _, c := range head {
		if (c < 0x20 || c > 0x7e) && c != '\n' && c != '\r' && c != '\t' {
			printable = false
			break
		}
	}
	if printable {
		return fmt.Sprintf("text %q", head)
	}
	return fmt.Sprintf("bytes % x", head)
}

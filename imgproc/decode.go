package imgproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
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

// DecodeImage decodes a JPEG or PNG image from r without converting its colours, and returns
// it with its format, "jpeg" or "png". It reads r to the end, within DefaultLimits, and applies
// the photo's EXIF orientation, so that the image is the one browsers and viewers show (use
// Limits.Decode with IgnoreOrientation for the stored pixel grid). Errors wrap
// ErrUnknownFormat, ErrTruncated or ErrCorrupt and describe the problem, or ErrTooLarge for a
// photo over DefaultLimits; a read error from r is returned wrapped as it is.
//
// A file that fails to decode counts as truncated when the decoder ran out of data, or when the
// data lacks the format's end marker (JPEG's EOI, PNG's IEND chunk): Go's JPEG decoder reports
// a cut file as "unexpected EOF" or as "short Huffman data", depending on where the cut falls.
func DecodeImage(r io.Reader) (image.Image, string, error) {
	data, err := DefaultLimits.ReadAll(r)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, "", err
		}
		return nil, "", fmt.Errorf("reading image: %w", err)
	}
	return DecodeBytes(data)
}

// DecodeBytes is DecodeImage on data in memory: DefaultLimits.Decode without a context.
func DecodeBytes(data []byte) (image.Image, string, error) {
	img, h, err := DefaultLimits.Decode(context.Background(), data)
	return img, h.Format, err
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

// hasEnd reports whether data ends with the format's end marker, allowing trailing padding.
func hasEnd(format string, data []byte) bool {
	if format == "png" {
		// The IEND chunk: length 0, type, CRC; some writers append junk, so search the tail.
		tail := data[max(0, len(data)-64):]
		return bytes.Contains(tail, []byte("IEND"))
	}
	trimmed := bytes.TrimRight(data, "\x00\r\n\t ")
	return bytes.HasSuffix(trimmed, []byte{0xff, 0xd9})
}

func classify(format string, data []byte, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || !hasEnd(format, data) {
		return fmt.Errorf("%w: %s data ends early after %d bytes (%v)", ErrTruncated, format, len(data), err)
	}
	// Format and unsupported-feature errors, and those of the PNG's zlib stream: all corrupt.
	return fmt.Errorf("%w: %v", ErrCorrupt, err)
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

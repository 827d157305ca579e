// Package exiftest writes EXIF blocks into JPEG and PNG files for tests: the orientation tag
// of phone photos, and malformed blocks. It imports nothing of catmark.
package exiftest

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// ByteOrder is binary.LittleEndian ("II") or binary.BigEndian ("MM").
type ByteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// Entry is one 12-byte entry of a TIFF IFD: tag, type (3 SHORT, 4 LONG, …), count, and the
// 4-byte value field (a SHORT sits in its first two bytes).
type Entry struct {
	Tag, Type uint16
	Count     uint32
	Value     uint32
}

// OrientationTag is the EXIF orientation tag.
const OrientationTag = 0x0112

// TIFF writes a TIFF header whose first IFD, at offset 8, holds entries and links to the IFD at
// next (0: none).
func TIFF(bo ByteOrder, entries []Entry, next uint32) []byte {
	var b []byte
	if bo == binary.LittleEndian {
		b = append(b, "II*\x00"...)
	} else {
		b = append(b, "MM\x00*"...)
	}
	b = bo.AppendUint32(b, 8)
	b = bo.AppendUint16(b, uint16(len(entries)))
	for _, e := range entries {
		b = bo.AppendUint16(b, e.Tag)
		b = bo.AppendUint16(b, e.Type)
		b = bo.AppendUint32(b, e.Count)
		if e.Type == 3 {
			b = bo.AppendUint16(b, uint16(e.Value))
			b = append(b, 0, 0)
		} else {
			b = bo.AppendUint32(b, e.Value)
		}
	}
	return bo.AppendUint32(b, next)
}

// Orientation is a well-formed EXIF block giving orientation o after two other tags of IFD0
// (ImageWidth and Make), as cameras write it. The orientation entry starts at byte
// OrientationEntry.
func Orientation(bo ByteOrder, o uint16) []byte {
	return TIFF(bo, []Entry{{0x0100, 4, 1, 640}, {0x010f, 2, 4, 0x41424300}, {OrientationTag, 3, 1, uint32(o)}}, 0)
}

// OrientationEntry is where the orientation entry of an Orientation block starts.
const OrientationEntry = 8 + 2 + 2*12

// WithApp1 returns jpg with an APP1 segment holding payload inserted right after its SOI
// marker. It fails for a payload that no segment can hold.
func WithApp1(jpg, payload []byte) ([]byte, error) {
	if len(payload)+2 > 0xffff {
		return nil, fmt.Errorf("exiftest: an APP1 payload of %d bytes does not fit a segment", len(payload))
	}
	if len(jpg) < 2 || jpg[0] != 0xff || jpg[1] != 0xd8 {
		return nil, fmt.Errorf("exiftest: not a JPEG")
	}
	out := append([]byte{}, jpg[:2]...)
	out = append(out, 0xff, 0xe1)
	out = binary.BigEndian.AppendUint16(out, uint16(len(payload)+2))
	out = append(out, payload...)
	return append(out, jpg[2:]...), nil
}

// WithExif is WithApp1 with an Exif segment ("Exif\0\0" and the TIFF block tiff).
func WithExif(jpg, tiff []byte) ([]byte, error) {
	return WithApp1(jpg, append([]byte("Exif\x00\x00"), tiff...))
}

// JPEG returns jpg tagged with orientation o (little-endian), panicking on a file that is not a
// JPEG: for tests that build their JPEGs with image/jpeg.
func JPEG(jpg []byte, o int) []byte {
	out, err := WithExif(jpg, Orientation(binary.LittleEndian, uint16(o)))
	if err != nil {
		panic(err)
	}
	return out
}

// WithPNGExif returns the PNG p with an eXIf chunk holding tiff inserted after its IHDR chunk.
func WithPNGExif(p, tiff []byte) ([]byte, error) {
	const ihdrEnd = 8 + 8 + 13 + 4
	if len(p) < ihdrEnd || string(p[12:16]) != "IHDR" {
		return nil, fmt.Errorf("exiftest: not a PNG starting with IHDR")
	}
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(tiff)))
	chunk = append(chunk, "eXIf"...)
	chunk = append(chunk, tiff...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	out := append([]byte{}, p[:ihdrEnd]...)
	out = append(out, chunk...)
	return append(out, p[ihdrEnd:]...), nil
}

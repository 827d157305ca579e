// Package hostile builds hostile inputs for tests: files that are small on the wire and costly
// to decode, the attacks the limits of imgproc and server must stop.
package hostile

import (
	"bytes"
	"encoding/binary"
)

// ProgressiveJPEG builds a grey progressive JPEG of w×h pixels: a DC scan, then the AC scan
// 1–63 repeated acScans times (every block an end-of-band run, a few bytes a scan). Repeated
// thousands of times it is a "scan bomb": small on the wire, slow to decode.
// (image/jpeg refuses an AC scan of a single byte: use sizes of 200×150 or more.)
func ProgressiveJPEG(w, h, acScans int) []byte {
	var b bytes.Buffer
	seg := func(marker byte, body []byte) {
		b.Write([]byte{0xff, marker})
		binary.Write(&b, binary.BigEndian, uint16(len(body)+2))
		b.Write(body)
	}
	b.Write([]byte{0xff, 0xd8})
	seg(0xdb, append([]byte{0}, bytes.Repeat([]byte{1}, 64)...))                      // DQT
	seg(0xc2, []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 1, 1, 0x11, 0}) // SOF2, 1 component
	huff := func(class byte, symbol byte) []byte {                                    // one symbol, code "0"
		t := make([]byte, 18)
		t[0], t[1], t[17] = class<<4, 1, symbol
		return t
	}
	seg(0xc4, huff(0, 0x00)) // DC: category 0
	seg(0xc4, huff(1, 0xe0)) // AC: EOBRUN of 2^14 + 14 bits
	blocks := ((w + 7) / 8) * ((h + 7) / 8)
	var bits bitWriter
	for range blocks { // every DC difference 0: code "0"
		bits.put(0, 1)
	}
	seg(0xda, []byte{1, 1, 0x00, 0, 0, 0})
	b.Write(bits.bytes())
	bits = bitWriter{}
	for left := blocks; left > 0; {
		r := min(14, bitsLen(left)-1) // EOBRUN r covers 2^r … 2^(r+1)-1 blocks
		run := min(left, 1<<(r+1)-1)
		bits.put(0, 1)
		bits.put(uint32(run-1<<r), r)
		left -= run
	}
	ac := bits.bytes()
	for range acScans {
		seg(0xda, []byte{1, 1, 0x00, 1, 63, 0})
		b.Write(ac)
	}
	b.Write([]byte{0xff, 0xd9})
	return b.Bytes()
}

func bitsLen(n int) int {
	k := 0
	for ; n > 0; n >>= 1 {
		k++
	}
	return k
}

// bitWriter writes JPEG entropy-coded bits: most significant first, padded with ones, 0xFF
// stuffed with 0x00.
type bitWriter struct {
	out  []byte
	acc  uint32
	nacc int
}

func (w *bitWriter) put(v uint32, n int) {
	for i := n - 1; i >= 0; i-- {
		w.acc = w.acc<<1 | (v>>i)&1
		w.nacc++
		if w.nacc == 8 {
			w.emit(byte(w.acc))
			w.acc, w.nacc = 0, 0
		}
	}
}

func (w *bitWriter) emit(c byte) {
	w.out = append(w.out, c)
	if c == 0xff {
		w.out = append(w.out, 0)
	}
}

func (w *bitWriter) bytes() []byte {
	if w.nacc > 0 {
		w.emit(byte(w.acc<<(8-w.nacc) | (1<<(8-w.nacc) - 1)))
		w.acc, w.nacc = 0, 0
	}
	return w.out
}

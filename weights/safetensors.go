package weights

// This file reads and writes the safetensors format itself:
//
//	8 bytes    N, the header's length, little-endian uint64
//	N bytes    a JSON object: {NAME: {"dtype": "F32", "shape": [2, 3], "data_offsets": [BEGIN, END]},
//	           …, "__metadata__": {KEY: "string value", …}}, padded with spaces
//	the rest   the tensors' bytes, little-endian, row-major; offsets count from the end of the header
//
// It is written here rather than taken from github.com/nlpodyssey/safetensors (which is
// available) because that package parses from one []byte holding the whole file, so reading a
// 100 MB checkpoint, or listing its header, means loading all of it first; it hands back raw
// bytes, so F16 and BF16 need converting anyway; and its errors name neither the file nor, mostly,
// the tensor. The format is small enough that a careful reader is shorter than the glue.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
)

// maxHeader bounds the JSON header's length, as the reference implementation does (100 MB): a
// larger length means a corrupt or foreign file, not a big model.
const maxHeader = 100_000_000

// dtypeSize gives the element size in bytes of each dtype the format defines.
var dtypeSize = map[string]int64{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"I64": 8, "U64": 8, "F64": 8,
}

// floatDTypes are the dtypes readFloat32 converts.
var floatDTypes = []string{"F32", "F16", "BF16", "F64"}

// TensorInfo describes one tensor of a safetensors file.
type TensorInfo struct {
	Name  string
	DType string // "F32", "F16", "BF16", "I64", …
	Shape []int  // empty for a scalar
	// Offset is where the tensor's bytes start in the file and Size how many there are.
	Offset, Size int64
}

// file is an open safetensors file whose header has been read and checked.
type file struct {
	path    string
	f       io.ReaderAt
	closer  io.Closer
	tensors map[string]TensorInfo
	order   []TensorInfo // by offset
	meta    map[string]string
}

// openFile opens path and validates its header: known dtypes, sizes that match the shapes,
// offsets inside the file and not overlapping. Close it when done.
func openFile(path string) (*file, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("weights: %w", err)
	}
	sf, err := parseHeader(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("weights: %s: %w", path, err)
	}
	sf.path, sf.f, sf.closer = path, f, f
	return sf, nil
}

// openBytes is openFile for a file held in memory (an embedded model); name stands for its path
// in errors.
func openBytes(name string, data []byte) (*file, error) {
	sf, err := parseHeader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("weights: %s: %w", name, err)
	}
	sf.path, sf.f = name, bytes.NewReader(data)
	return sf, nil
}

// Close closes the file.
func (sf *file) Close() error {
	if sf.closer == nil {
		return nil
	}
	return sf.closer.Close()
}

// parseHeader reads and validates the header of a safetensors file of the given size.
func parseHeader(r io.ReaderAt, size int64) (*file, error) {
	if size < 8 {
		return nil, fmt.Errorf("not a safetensors file: %d bytes, too short for the 8-byte header length", size)
	}
	var lb [8]byte
	if _, err := r.ReadAt(lb[:], 0); err != nil {
		return nil, fmt.Errorf("reading the header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(lb[:])
	if n > maxHeader {
		return nil, fmt.Errorf("not a safetensors file: header length %d exceeds %d bytes", n, maxHeader)
	}
	if int64(n) > size-8 {
		return nil, fmt.Errorf("truncated: the header should be %d bytes but the file has only %d after the length", n, size-8)
	}
	hb := make([]byte, n)
	if _, err := r.ReadAt(hb, 8); err != nil {
		return nil, fmt.Errorf("reading the %d-byte header: %w", n, err)
	}
	entries, meta, err := decodeHeader(hb)
	if err != nil {
		return nil, fmt.Errorf("bad header: %w", err)
	}
	dataStart := 8 + int64(n)
	dataSize := size - dataStart
	sf := &file{tensors: map[string]TensorInfo{}, meta: meta}
	for _, e := range entries {
		ti, err := e.check(dataSize)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", e.name, err)
		}
		ti.Offset += dataStart
		sf.tensors[ti.Name] = ti
		sf.order = append(sf.order, ti)
	}
	sort.Slice(sf.order, func(i, j int) bool { return sf.order[i].Offset < sf.order[j].Offset })
	for i := 1; i < len(sf.order); i++ {
		a, b := sf.order[i-1], sf.order[i]
		if b.Offset < a.Offset+a.Size {
			return nil, fmt.Errorf("tensors %q and %q overlap in the data section", a.Name, b.Name)
		}
	}
	return sf, nil
}

// headerEntry is one tensor's header entry as written in the file.
type headerEntry struct {
	name    string
	DType   *string `json:"dtype"`
	Shape   []int64 `json:"shape"`
	Offsets []int64 `json:"data_offsets"`
}

// decodeHeader parses the JSON header, rejecting duplicate names (which encoding/json would
// silently resolve to the last one).
func decodeHeader(hb []byte) ([]headerEntry, map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(hb))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, fmt.Errorf("not a JSON object (starts %q)", prefix(hb, 20))
	}
	seen := map[string]bool{}
	var entries []headerEntry
	meta := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("invalid JSON: %w", err)
		}
		name := tok.(string) // object keys are always strings
		if seen[name] {
			return nil, nil, fmt.Errorf("%q appears twice", name)
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("invalid JSON at %q: %w", name, err)
		}
		if name == "__metadata__" {
			if err := json.Unmarshal(raw, &meta); err != nil || meta == nil {
				return nil, nil, fmt.Errorf("__metadata__ must map names to strings: %s", prefix(raw, 80))
			}
			continue
		}
		e := headerEntry{name: name}
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %v in %s", name, err, prefix(raw, 80))
		}
		entries = append(entries, e)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if rest := bytes.TrimSpace(hb[dec.InputOffset():]); len(rest) > 0 {
		return nil, nil, fmt.Errorf("unexpected %q after the JSON object", prefix(rest, 20))
	}
	return entries, meta, nil
}

// check validates an entry against a data section of dataSize bytes and returns its info with
// Offset relative to the data section.
func (e headerEntry) check(dataSize int64) (TensorInfo, error) {
	if e.DType == nil || e.Shape == nil || e.Offsets == nil {
		return TensorInfo{}, errors.New(`entry lacks one of "dtype", "shape" and "data_offsets"`)
	}
	size, ok := dtypeSize[*e.DType]
	if !ok {
		return TensorInfo{}, fmt.Errorf("unknown dtype %q", *e.DType)
	}
	ti := TensorInfo{Name: e.name, DType: *e.DType, Shape: make([]int, len(e.Shape))}
	for i, d := range e.Shape {
		if d < 0 || d > math.MaxInt32 {
			return TensorInfo{}, fmt.Errorf("shape %v has an impossible dimension", e.Shape)
		}
		ti.Shape[i] = int(d)
		// Checked multiplication: the byte count must fit in an int64.
		if d != 0 && size > math.MaxInt64/d {
			return TensorInfo{}, fmt.Errorf("shape %v is too large", e.Shape)
		}
		size *= d
	}
	if len(e.Offsets) != 2 {
		return TensorInfo{}, fmt.Errorf("data_offsets %v must be [begin, end]", e.Offsets)
	}
	begin, end := e.Offsets[0], e.Offsets[1]
	switch {
	case begin < 0 || end < begin:
		return TensorInfo{}, fmt.Errorf("data_offsets %v are not a range", e.Offsets)
	case end-begin != size:
		return TensorInfo{}, fmt.Errorf("data_offsets %v hold %d bytes but %s%v needs %d", e.Offsets, end-begin, *e.DType, e.Shape, size)
	case end > dataSize:
		return TensorInfo{}, fmt.Errorf("data_offsets %v run past the end of the data (%d bytes): truncated file?", e.Offsets, dataSize)
	}
	ti.Offset, ti.Size = begin, size
	return ti, nil
}

// prefix quotes at most n bytes of b for an error message.
func prefix(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// readFloat32 reads tensor ti into dst (len = the tensor's element count), converting F16, BF16
// and F64 to float32.
func (sf *file) readFloat32(ti TensorInfo, dst []float32) error {
	elem := dtypeSize[ti.DType]
	if int64(len(dst))*elem != ti.Size {
		return fmt.Errorf("weights: %s: tensor %q has %d bytes of %s, want %d values", sf.path, ti.Name, ti.Size, ti.DType, len(dst))
	}
	var conv func(dst []float32, src []byte)
	switch ti.DType {
	case "F32":
		conv = func(dst []float32, src []byte) {
			for i := range dst {
				dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
			}
		}
	case "F16":
		conv = func(dst []float32, src []byte) {
			for i := range dst {
				dst[i] = halfToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
			}
		}
	case "BF16":
		conv = func(dst []float32, src []byte) {
			for i := range dst {
				dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(src[2*i:])) << 16)
			}
		}
	case "F64":
		conv = func(dst []float32, src []byte) {
			for i := range dst {
				dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
			}
		}
	default:
		return fmt.Errorf("weights: %s: tensor %q is %s; only %s convert to float32", sf.path, ti.Name, ti.DType, strings.Join(floatDTypes, ", "))
	}
	const chunk = 1 << 16 // elements per read
	buf := make([]byte, min(int64(chunk), int64(len(dst)))*elem)
	off := ti.Offset
	for len(dst) > 0 {
		k := min(chunk, len(dst))
		b := buf[:int64(k)*elem]
		if _, err := sf.f.ReadAt(b, off); err != nil {
			return fmt.Errorf("weights: %s: reading tensor %q: %w", sf.path, ti.Name, err)
		}
		conv(dst[:k], b)
		dst, off = dst[k:], off+int64(len(b))
	}
	return nil
}

// halfToFloat32 converts an IEEE 754 binary16 value to float32 exactly (subnormals, infinities
// and NaNs included).
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp != 0: // normal: rebias 15 → 127
		return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
	case frac == 0: // ±0
		return math.Float32frombits(sign)
	}
	// Subnormal: frac·2⁻²⁴, exact in float32.
	v := float32(frac) * (1.0 / (1 << 24))
	if sign != 0 {
		v = -v
	}
	return v
}

// record is one tensor to write.
type record struct {
	name  string
	shape []int
	data  []float32
	half  bool // write as F16 instead of F32
}

// writeSafetensors writes records (F32, or F16 where half) and metadata in the safetensors format, the records'
// data in their order.
func writeSafetensors(w io.Writer, records []record, meta map[string]string) error {
	type entry struct {
		DType   string   `json:"dtype"`
		Shape   []int    `json:"shape"`
		Offsets [2]int64 `json:"data_offsets"`
	}
	header := make(map[string]any, len(records)+1)
	var off int64
	for _, r := range records {
		if _, dup := header[r.name]; dup || r.name == "__metadata__" {
			return fmt.Errorf("tensor name %q is used twice or reserved", r.name)
		}
		if len(r.data) != numel(r.shape) {
			return fmt.Errorf("tensor %q has %d values but shape %v", r.name, len(r.data), r.shape)
		}
		dtype, n := "F32", 4*int64(len(r.data))
		if r.half {
			dtype, n = "F16", 2*int64(len(r.data))
		}
		header[r.name] = entry{dtype, append([]int{}, r.shape...), [2]int64{off, off + n}}
		off += n
	}
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	hb, err := json.Marshal(header) // keys sorted: deterministic files
	if err != nil {
		return err
	}
	for len(hb)%8 != 0 { // keep the data 8-byte aligned, as the reference writer does
		hb = append(hb, ' ')
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var lb [8]byte
	binary.LittleEndian.PutUint64(lb[:], uint64(len(hb)))
	bw.Write(lb[:])
	bw.Write(hb)
	var buf [4096]byte
	for _, r := range records {
		d := r.data
		for r.half && len(d) > 0 {
			k := min(len(d), len(buf)/2)
			for i, v := range d[:k] {
				binary.LittleEndian.PutUint16(buf[2*i:], float32ToHalf(v))
			}
			if _, err := bw.Write(buf[:2*k]); err != nil {
				return err
			}
			d = d[k:]
		}
		for len(d) > 0 {
			k := min(len(d), len(buf)/4)
			for i, v := range d[:k] {
				binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
			}
			if _, err := bw.Write(buf[:4*k]); err != nil {
				return err
			}
			d = d[k:]
		}
	}
	return bw.Flush()
}

// numel is the element count of a shape (1 for a scalar).
func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// float32ToHalf rounds f to the nearest IEEE 754 half-precision value (ties to even); values
// beyond the half range become ±Inf, NaN stays NaN.
func float32ToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23&0xff) - 127 + 15
	mant := b & 0x7fffff
	switch {
	case b&0x7fffffff > 0x7f800000: // NaN
		return sign | 0x7e00
	case exp >= 0x1f: // overflow or Inf
		return sign | 0x7c00
	case exp <= 0: // subnormal half, or zero
		if exp < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - exp)
		h := mant >> shift
		rem := mant & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || rem == half && h&1 == 1 {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(exp)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || rem == 0x1000 && h&1 == 1 {
		h++ // may carry into the exponent, which is right (up to Inf)
	}
	return sign | uint16(h)
}

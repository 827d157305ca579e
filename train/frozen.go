package train

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/catmark/catmark/augment"
	"github.com/catmark/catmark/cache"
	"github.com/catmark/catmark/facecrop"
	"github.com/catmark/catmark/internal/atomicfile"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/loader"
	"github.com/catmark/catmark/loss"
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/nn"
)

// features are the outputs of a run's frozen leading layers (Config.CacheFrozen) for every
// training input, plain and mirrored, and every validation input: what the trainable rest of
// the network (back) reads instead of the photos.
//
// Sizes: a feature is C×H×W float32 values (ResNet-18 of width 32 frozen up to layer2 at 128
// px: 64×16×16, 64 KiB), so the 1,056 training photos of the real data take 2 × 1,056 × 64 KiB
// = 132 MiB and the 264 validation photos 16.5 MiB, in memory and on disk.
type features struct {
	c, h, w  int
	train    []int       // cache indices of the training photos, in the order of trainX
	pos      map[int]int // cache index → position in train
	trainX   []float32   // 2·len(train) features: photo j plain at 2j, mirrored at 2j+1
	trainY   []float32   // their truth, landmark.Dim values each, same order
	val      []int
	valX     []float32
	valY     []float32
	back     *nn.Sequential // the layers after the frozen ones
	frozenAt int            // how many leading layers are frozen
	loaders  loader.Config  // the training loader's settings: order and flips
	data     *cache.Cache
	batch    int
}

// featureHeader is the JSON header of a feature file.
type featureHeader struct {
	Key     string `json:"key"`
	C, H, W int
	Train   []int `json:"train"`
	Val     []int `json:"val"`
}

// FeatureFile returns the path of the feature file a CacheFrozen run with cfg uses, beside its
// run folder (so a study's cases and seeds share one), and its key: a hash of the initial
// weights' bytes, the data cache's manifest and every setting that shapes the inputs or the
// frozen layers. A changed backbone or crop setting gives another file; none is ever reused
// for other inputs.
func FeatureFile(cfg Config) (path, key string, err error) {
	h := sha256.New()
	for _, f := range []string{cfg.Init, filepath.Join(cfg.Data, cache.ManifestFile)} {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", "", fmt.Errorf("train: cache-frozen: %w", err)
		}
		sum := sha256.Sum256(b)
		h.Write(sum[:])
	}
	settings, _ := json.Marshal(struct {
		Data          string
		Stage         model.Stage
		Depth, Width  int
		Head          string
		Stages, Size  int
		Margin        float64
		Norm, Split   string
		Freeze        []string
		FeatureFormat int
	}{cfg.Data, cfg.Stage, cfg.Depth, cfg.Width, cfg.Head, cfg.Stages, cfg.Size, cfg.Margin, cfg.Norm, cfg.Split, cfg.Freeze, 1})
	h.Write(settings)
	key = hex.EncodeToString(h.Sum(nil))
	return filepath.Join(filepath.Dir(filepath.Clean(cfg.Out)), "frozen-"+key[:16]+".features"), key, nil
}

// setupFeatures loads the run's feature file, or computes it with the network's frozen layers
// (which must hold their initial weights) and writes it.
func (t *trainer) setupFeatures(data *cache.Cache) error {
	k := t.net.Net.FrozenLayers()
	if k == 0 {
		return fmt.Errorf("train: cache-frozen: the network's first layer is trainable; freeze from the stem on (--freeze stem,…)")
	}
	front, back := t.net.Net.Split(k)
	f := &features{train: t.trainIdx, val: t.valIdx, back: back, frozenAt: k, loaders: t.batches.train, data: data, batch: t.cfg.Batch}
	path, key, err := FeatureFile(t.cfg)
	if err != nil {
		return err
	}
	if ok, err := f.read(path, key); err != nil {
		return err
	} else if !ok {
		fmt.Fprintf(t.log, "computing the frozen layers' features into %s\n", path)
		if err := f.compute(t, front); err != nil {
			return err
		}
		if err := f.write(path, key); err != nil {
			return err
		}
	}
	f.pos = make(map[int]int, len(f.train))
	for j, i := range f.train {
		f.pos[i] = j
	}
	t.feats = f
	return nil
}

// compute runs the frozen layers on every training crop (no jitter), its mirror and every
// validation crop.
func (f *features) compute(t *trainer, front *nn.Sequential) error {
	b := t.b
	per := f.batch
	run := func(x []float32, n, s int) []float32 {
		xt := b.FromHost(x, n, 3, s, s)
		out := front.Forward(xt, false)
		sh := out.Shape()
		f.c, f.h, f.w = sh[1], sh[2], sh[3]
		v := b.ToHost(out)
		b.Release(xt)
		b.Release(out)
		return v
	}
	plain := f.loaders
	plain.Shuffle, plain.DropLast, plain.Augment, plain.Batch = false, false, augment.Config{}, per
	var mirror []float32
	for batch := range loader.New(f.data, f.train, plain).Epoch(0) {
		s := batch.Size
		mirror = mirrorX(mirror[:0], batch.X, batch.N, s)
		a, m := run(batch.X, batch.N, s), run(mirror, batch.N, s)
		fl := len(a) / batch.N
		for k := range batch.N {
			f.trainX = append(f.trainX, a[k*fl:(k+1)*fl]...)
			f.trainX = append(f.trainX, m[k*fl:(k+1)*fl]...)
			f.trainY = append(f.trainY, batch.Y[k*landmark.Dim:(k+1)*landmark.Dim]...)
			f.trainY = appendTruth(f.trainY, f.truth(batch.Index[k], t.cfg).FlipNormalized())
		}
		batch.Release()
	}
	for batch := range loader.New(f.data, f.val, t.batches.val).Epoch(0) {
		f.valX = append(f.valX, run(batch.X, batch.N, batch.Size)...)
		f.valY = append(f.valY, batch.Y...)
		batch.Release()
	}
	return nil
}

// truth is photo i's landmarks normalised to the run's input, unclipped: to the face box for the
// crop stage (as cropFrame cuts it without jitter), to the photo otherwise.
func (f *features) truth(i int, cfg Config) landmark.Points {
	it := f.data.Item(i)
	if cfg.Stage == model.Crop {
		return facecrop.FaceBox(it.Points, cfg.Margin).ToBox(it.Points)
	}
	return it.Points.NormalizeUnclipped(it.Width, it.Height)
}

// appendTruth appends the clipped points as the loader writes a sample's truth.
func appendTruth(y []float32, pts landmark.Points) []float32 {
	for _, p := range pts.Clip() {
		y = append(y, float32(p.X), float32(p.Y))
	}
	return y
}

// mirrorX appends to dst the n images x (n×3×s×s planes) mirrored left to right, as the loader
// renders a flipped sample.
func mirrorX(dst, x []float32, n, s int) []float32 {
	dst = slices.Grow(dst, len(x))[:len(x)]
	for r := 0; r < n*3*s; r++ {
		src, out := x[r*s:(r+1)*s], dst[r*s:(r+1)*s]
		for i := range s {
			out[i] = src[s-1-i]
		}
	}
	return dst
}

// size is the values of one feature.
func (f *features) size() int { return f.c * f.h * f.w }

// epoch yields the training batches of epoch e as the loader would make them (the same order
// and the same flips, drawn from the same per-photo generators), with X holding the frozen
// layers' features (N×C×H×W) instead of pixels.
func (f *features) epoch(e int) iter.Seq[*loader.Batch] {
	return func(yield func(*loader.Batch) bool) {
		l := loader.New(f.data, f.train, f.loaders)
		order := l.Order(e)[:l.Len()]
		fs := f.size()
		for lo := 0; lo < len(order); lo += f.batch {
			hi := min(lo+f.batch, len(order))
			b := &loader.Batch{N: hi - lo, Index: order[lo:hi]}
			for _, i := range b.Index {
				// The crop frame draws nothing without jitter, so the flip is the
				// generator's first draw, as in the loader.
				flip := f.loaders.Augment.Draw(l.SampleRand(e, i), nil).Flip
				r := 2 * f.pos[i]
				if flip {
					r++
				}
				b.X = append(b.X, f.trainX[r*fs:(r+1)*fs]...)
				b.Y = append(b.Y, f.trainY[r*landmark.Dim:(r+1)*landmark.Dim]...)
			}
			if !yield(b) {
				return
			}
		}
	}
}

// step is Step on a batch of features.
func (f *features) step(m *model.Model, x, y []float32, n int, l *loss.Loss, grad []float32) float64 {
	xt := m.B.FromHost(x, n, f.c, f.h, f.w)
	out := f.back.Forward(xt, true)
	pred := m.B.ToHost(out)
	v := l.Eval(pred, y, grad)
	dy := m.B.FromHost(grad, n, m.Outputs())
	f.back.Backward(dy, false)
	m.B.Release(xt)
	m.B.Release(out)
	m.B.Release(dy)
	return v
}

// valBatches yields the validation features in batches, in the order of the validation split.
func (f *features) valBatches() iter.Seq[*loader.Batch] {
	return func(yield func(*loader.Batch) bool) {
		fs := f.size()
		for lo := 0; lo < len(f.val); lo += f.batch {
			hi := min(lo+f.batch, len(f.val))
			b := &loader.Batch{N: hi - lo, Index: f.val[lo:hi], X: f.valX[lo*fs : hi*fs], Y: f.valY[lo*landmark.Dim : hi*landmark.Dim]}
			if !yield(b) {
				return
			}
		}
	}
}

// predict runs the trainable layers in inference mode on a batch of features.
func (f *features) predict(m *model.Model, b *loader.Batch) []model.Output {
	xt := m.B.FromHost(b.X, b.N, f.c, f.h, f.w)
	out := f.back.Forward(xt, false)
	y := m.B.ToHost(out)
	m.B.Release(xt)
	m.B.Release(out)
	return m.Spec.Decode(y, b.N)
}

// write stores the features at path (atomic): an 8-byte little-endian header length, the JSON
// header, then float32 little-endian values: trainX, trainY, valX, valY.
func (f *features) write(path, key string) error {
	hdr, _ := json.Marshal(featureHeader{Key: key, C: f.c, H: f.h, W: f.w, Train: f.train, Val: f.val})
	return atomicfile.Write(path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(hdr)))
		bw.Write(n[:])
		bw.Write(hdr)
		var buf [4]byte
		for _, part := range [][]float32{f.trainX, f.trainY, f.valX, f.valY} {
			for _, v := range part {
				binary.LittleEndian.PutUint32(buf[:], math.Float32bits(v))
				if _, err := bw.Write(buf[:]); err != nil {
					return err
				}
			}
		}
		return bw.Flush()
	})
}

// read loads the features at path; ok is false when there is no file, or one for another key
// or other photos (it is then recomputed and replaced).
func (f *features) read(path, key string) (ok bool, err error) {
	file, err := os.Open(path)
	if os.IsNotExist(err) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("train: cache-frozen: %w", err)
	}
	defer file.Close()
	r := bufio.NewReaderSize(file, 1<<20)
	var n [8]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return false, nil
	}
	size := binary.LittleEndian.Uint64(n[:])
	if size > 1<<26 {
		return false, nil
	}
	hb := make([]byte, size)
	if _, err := io.ReadFull(r, hb); err != nil {
		return false, nil
	}
	var h featureHeader
	if json.Unmarshal(hb, &h) != nil || h.Key != key || !slices.Equal(h.Train, f.train) || !slices.Equal(h.Val, f.val) || h.C < 1 || h.H < 1 || h.W < 1 {
		return false, nil
	}
	f.c, f.h, f.w = h.C, h.H, h.W
	fs := f.size()
	parts := []*[]float32{&f.trainX, &f.trainY, &f.valX, &f.valY}
	lens := []int{2 * len(f.train) * fs, 2 * len(f.train) * landmark.Dim, len(f.val) * fs, len(f.val) * landmark.Dim}
	buf := make([]byte, 1<<20)
	for p, dst := range parts {
		*dst = make([]float32, lens[p])
		v := *dst
		for len(v) > 0 {
			chunk := min(len(v), len(buf)/4)
			if _, err := io.ReadFull(r, buf[:4*chunk]); err != nil {
				return false, fmt.Errorf("train: cache-frozen: %s is truncated: %w", path, err)
			}
			for k := range chunk {
				v[k] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*k:]))
			}
			v = v[chunk:]
		}
	}
	return true, nil
}

package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"strings"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/catmark/catmark"
	"github.com/catmark/catmark/imgproc"
)

// Namespace is the namespace of the pipeline's metrics.
const Namespace = "catmark"

// The pipeline's metrics: photos is every photo matched, faces every face reported in the
// results (a photo's faces, or 1 for a detector that reports the best face only), failures every
// dead letter, and PhotoMicros each photo's time in microseconds: its reading and decoding plus
// its share of its batch's detection.
const (
	PhotosCounter   = "photos"
	FacesCounter    = "faces"
	FailuresCounter = "failures"
	PhotoMicros     = "photo_micros"
)

var (
	photos    = beam.NewCounter(Namespace, PhotosCounter)
	faces     = beam.NewCounter(Namespace, FacesCounter)
	failures  = beam.NewCounter(Namespace, FailuresCounter)
	photoTime = beam.NewDistribution(Namespace, PhotoMicros)
)

// photoLimits are catmark predict's limits: those of catmark serve (imgproc.DefaultLimits) and
// the detector's smallest photo.
var photoLimits = func() imgproc.Limits {
	l := imgproc.DefaultLimits
	l.MinSide = catmark.MinSide
	return l
}()

// maxBatchPixels bounds the decoded photos a batch holds at once (about 400 MB of RGBA), as in
// catmark predict.
const maxBatchPixels = 100 << 20

// remoteTries is how often a photo on a remote file system (gs://, s3://) is read before its
// read error goes to the dead letters; the waits between tries double from remoteWait.
const (
	remoteTries = 3
	remoteWait  = 500 * time.Millisecond
)

// DeadLetter is one line of the dead letters: the photo's path and why it has no result, the
// error catmark predict prints for it.
type DeadLetter struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

func init() {
	register.DoFn4x1[context.Context, []string, func(string), func(string), error](&detectFn{})
	register.Emitter1[string]()
}

// detectFn reads, decodes and detects a batch of photos, emitting a result line per photo and
// a dead letter per bad one. Its detector is loaded once per worker process (Setup) and shared
// by all its instances.
type detectFn struct {
	Model    string
	Backend  string
	Settings catmark.Settings
	Batch    int

	det *sharedDet
}

// sharedDet is a detector shared by every detectFn of a process. Its lock is held for a whole
// batch: the detector runs one call at a time anyway (using every core), and holding the lock
// here lets a photo's time count its batch's detection without the wait for other bundles'.
type sharedDet struct {
	sync.Mutex
	*catmark.Detector
}

// detectors are the process's detectors, one per model, backend and settings.
var detectors struct {
	sync.Mutex
	m map[detectorKey]*sharedDet
}

type detectorKey struct {
	model, backend string
	settings       catmark.Settings
}

// sharedDetector loads the detector for k once per process.
func sharedDetector(k detectorKey) (*sharedDet, error) {
	detectors.Lock()
	defer detectors.Unlock()
	if d := detectors.m[k]; d != nil {
		return d, nil
	}
	d, err := catmark.Load(k.model, catmark.WithBackend(k.backend), catmark.WithSettings(k.settings))
	if err != nil {
		return nil, err
	}
	if detectors.m == nil {
		detectors.m = map[detectorKey]*sharedDet{}
	}
	detectors.m[k] = &sharedDet{Detector: d}
	return detectors.m[k], nil
}

func (f *detectFn) Setup() error {
	d, err := sharedDetector(detectorKey{f.Model, f.Backend, f.Settings})
	f.det = d
	return err
}

// photo is one photo of a batch: its path, its decoded pixels or why it has none, and the time
// its reading and decoding took.
type photo struct {
	path  string
	img   image.Image
	h     imgproc.Header
	err   error
	spent time.Duration
}

func (f *detectFn) ProcessElement(ctx context.Context, paths []string, emit, dead func(string)) error {
	var batch []*photo
	pixels := 0
	for i, path := range paths {
		p := loadPhoto(ctx, path)
		if err := ctx.Err(); err != nil {
			return err // the bundle was cancelled: no dead letter for it
		}
		batch = append(batch, p)
		pixels += p.h.Width * p.h.Height
		if len(batch) == f.Batch || pixels >= maxBatchPixels || i == len(paths)-1 {
			if err := f.detect(ctx, batch, emit, dead); err != nil {
				return err
			}
			batch, pixels = batch[:0], 0
		}
	}
	return nil
}

// detect detects the landmarks on the decoded photos of batch together and emits each photo's
// result or dead letter, as catmark predict's predictBatch prints them.
func (f *detectFn) detect(ctx context.Context, batch []*photo, emit, dead func(string)) error {
	var imgs []image.Image
	var at []int
	for i, p := range batch {
		if p.err == nil {
			imgs = append(imgs, p.img)
			at = append(at, i)
		}
	}
	found := make([]catmark.Faces, len(batch))
	if len(imgs) > 0 {
		f.det.Lock()
		start := time.Now()
		dets, err := f.det.DetectAllBatch(ctx, imgs)
		share := time.Since(start) / time.Duration(len(imgs))
		f.det.Unlock()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for k, i := range at {
			batch[i].spent += share
			if err != nil {
				batch[i].err = err
			} else {
				found[i] = dets[k]
			}
		}
	}
	for i, p := range batch {
		photos.Inc(ctx, 1)
		photoTime.Update(ctx, p.spent.Microseconds())
		err := p.err
		if err == nil && found[i].Err != nil {
			err = fmt.Errorf("%s: %w", p.path, found[i].Err)
		}
		if err != nil {
			failures.Inc(ctx, 1)
			b, _ := json.Marshal(DeadLetter{Path: p.path, Reason: err.Error()})
			dead(string(b))
			continue
		}
		res := catmark.NewRecord(p.path, p.h.Width, p.h.Height, found[i].Faces)
		faces.Inc(ctx, int64(max(1, len(res.Faces))))
		b, err := json.Marshal(res)
		if err != nil {
			return fmt.Errorf("%s: encoding the result: %w", p.path, err)
		}
		emit(string(b))
	}
	return nil
}

// loadPhoto reads and decodes the photo at path within photoLimits, as catmark predict's
// loadPhoto does, with the same errors: a local file is read with Limits.ReadFile (a pipe, a
// device or a file over 20 MiB refused unread), a remote one through its Beam file system.
func loadPhoto(ctx context.Context, path string) *photo {
	start := time.Now()
	p := &photo{path: path}
	defer func() { p.spent = time.Since(start) }()
	var data []byte
	if isRemote(path) {
		data, p.err = readRemote(ctx, path)
	} else {
		data, p.err = photoLimits.ReadFile(path)
	}
	if p.err != nil {
		p.err = fmt.Errorf("%w; skipped", p.err)
		return p
	}
	if p.img, p.h, p.err = photoLimits.Decode(ctx, data); p.err != nil {
		p.err = fmt.Errorf("%s: %w", path, p.err)
	}
	return p
}

// isRemote reports whether path is in a file system with a scheme (gs://, s3://, memfs://)
// rather than a local path.
func isRemote(path string) bool {
	i := strings.Index(path, "://")
	return i > 0
}

// readRemote reads the file at path through its Beam file system within photoLimits.MaxBytes,
// trying remoteTries times before it gives up on an error other than the file's size.
func readRemote(ctx context.Context, path string) ([]byte, error) {
	var err error
	wait := remoteWait
	for try := 1; ; try++ {
		var data []byte
		if data, err = readRemoteOnce(ctx, path); err == nil || errors.Is(err, imgproc.ErrTooLarge) || try == remoteTries {
			return data, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func readRemoteOnce(ctx context.Context, path string) ([]byte, error) {
	fsys, err := filesystem.New(ctx, path)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	r, err := fsys.OpenRead(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer r.Close()
	data, err := photoLimits.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}

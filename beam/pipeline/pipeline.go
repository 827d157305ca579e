// Package pipeline is catmark's batch inference on Apache Beam: the landmarks of every photo a
// glob matches, found on as many workers as the runner gives, written as JSON lines.
//
// The pipeline is
//
//	match (one glob, sorted, cut into batches of Config.Batch paths)
//	  → reshuffle (the batches spread over the workers)
//	  → detect (read, decode and detect each batch; one detector per worker process)
//	  → results: PREFIX-SSSSS-of-NNNNN.jsonl, one catmark predict --json line per photo
//	  → dead letters: PREFIX-errors-SSSSS-of-NNNNN.jsonl, {"path", "reason"} per bad photo
//
// A photo is read and decoded as catmark predict reads it (the limits of catmark serve, at least
// catmark.MinSide pixels a side) and a batch is detected with Detector.DetectAllBatch, so a
// photo's line is predict's line for the same path. The batches are predict's too (the sorted
// paths in runs of Config.Batch), and a detector's answer for a photo can depend on the batch it
// is in by float rounding, so the output is the same whatever bundles the runner makes.
//
// A photo that cannot be read, decoded or measured goes to the dead letters with the error
// catmark predict prints for it; it never fails the job. The counters of namespace Namespace
// count photos, faces and failures, and the distribution PhotoMicros holds each photo's time.
package pipeline

import (
	"context"
	"fmt"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/catmark/catmark"
)

// Config is what a pipeline reads, writes and detects with.
type Config struct {
	// Input is the glob of the photos, in any file system the program registers (a local path,
	// gs://bucket/cats/*.jpg, s3://…).
	Input string
	// Output is the prefix of the output files: PREFIX-SSSSS-of-NNNNN.jsonl for the results and
	// PREFIX-errors-SSSSS-of-NNNNN.jsonl for the dead letters.
	Output string
	// Model is the model folder or checkpoint, as catmark.Load takes it ("": the shipped model).
	// A remote runner's workers need it at the same path, or "".
	Model string
	// Backend is the engine backend (catmark.WithBackend; "": the fastest the workers have).
	Backend string
	// Settings are the detector's settings.
	Settings catmark.Settings
	// Batch is how many photos are detected together (catmark predict's --batch); default 8.
	Batch int
	// Shards is how many files each output is written as; default 4.
	Shards int
}

// DefaultBatch and DefaultShards are Config's defaults.
const (
	DefaultBatch  = 8
	DefaultShards = 4
)

func (c Config) withDefaults() Config {
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	if c.Shards == 0 {
		c.Shards = DefaultShards
	}
	return c
}

// Validate reports the first field of c that is missing or out of range.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Input == "":
		return fmt.Errorf("no input glob")
	case c.Output == "":
		return fmt.Errorf("no output prefix")
	case c.Batch < 1 || c.Batch > 256:
		return fmt.Errorf("batch %d out of range [1, 256]", c.Batch)
	case c.Shards < 1 || c.Shards > 10000:
		return fmt.Errorf("shards %d out of range [1, 10000]", c.Shards)
	}
	if err := c.Settings.Validate(); err != nil {
		return fmt.Errorf("detector settings: %w", err)
	}
	return nil
}

// ResultsName and ErrorsName are the names of shard i of n of the results and of the dead
// letters for output prefix prefix.
func ResultsName(prefix string, i, n int) string {
	return fmt.Sprintf("%s-%05d-of-%05d.jsonl", prefix, i, n)
}

// ErrorsName: see ResultsName.
func ErrorsName(prefix string, i, n int) string {
	return ResultsName(prefix+"-errors", i, n)
}

// Build adds the pipeline for c to s. c is checked first (Validate); the glob's file system
// must be registered (imported) in the program.
func Build(s beam.Scope, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	c = c.withDefaults()
	for _, p := range []string{c.Input, c.Output} {
		if _, err := filesystem.New(context.Background(), p); err != nil {
			return err
		}
	}
	s = s.Scope("catmark")
	batches := beam.ParDo(s, &matchFn{Glob: c.Input, Batch: c.Batch}, beam.Impulse(s))
	batches = beam.Reshuffle(s, batches)
	results, dead := beam.ParDo2(s, &detectFn{Model: c.Model, Backend: c.Backend, Settings: c.Settings, Batch: c.Batch}, batches)
	writeShards(s.Scope("results"), results, c.Output, c.Shards, false)
	writeShards(s.Scope("errors"), dead, c.Output, c.Shards, true)
	return nil
}

func init() {
	register.DoFn3x1[context.Context, []byte, func([]string), error](&matchFn{})
	register.Emitter1[[]string]()
}

// matchFn lists the files Glob matches, sorts them and emits them in runs of Batch paths, the
// batches catmark predict makes of the same paths. A glob that matches nothing fails the job.
type matchFn struct {
	Glob  string
	Batch int
}

func (f *matchFn) ProcessElement(ctx context.Context, _ []byte, emit func([]string)) error {
	fsys, err := filesystem.New(ctx, f.Glob)
	if err != nil {
		return err
	}
	defer fsys.Close()
	paths, err := fsys.List(ctx, f.Glob)
	if err != nil {
		return fmt.Errorf("listing %s: %w", f.Glob, err)
	}
	if len(paths) == 0 {
		return fmt.Errorf("no files match %s", f.Glob)
	}
	sort.Strings(paths)
	for i := 0; i < len(paths); i += f.Batch {
		emit(paths[i:min(i+f.Batch, len(paths))])
	}
	return nil
}

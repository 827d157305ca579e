// Command catmark-beam finds the landmarks on every photo a glob matches with Apache Beam:
// locally on Prism by default, or on any Beam runner (Dataflow, Flink, Spark) by Beam's own
// flags. It writes catmark predict --json's lines, sharded, and a dead letter per bad photo:
//
//	catmark-beam --input 'cats/*.jpg' --output out/cats
//
// writes out/cats-SSSSS-of-NNNNN.jsonl and out/cats-errors-SSSSS-of-NNNNN.jsonl, and prints the
// pipeline's counters. See beam/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/s3"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"github.com/catmark/catmark/beam/pipeline"
	"github.com/catmark/catmark/engine"
	_ "github.com/catmark/catmark/engine/backends" // every engine backend this build has
	"github.com/catmark/catmark/internal/detectorflags"
)

var (
	input   = flag.String("input", "", "glob of the photos: a local path, gs://BUCKET/… or s3://BUCKET/… (required)")
	output  = flag.String("output", "", "prefix of the output files: PREFIX-SSSSS-of-NNNNN.jsonl and PREFIX-errors-SSSSS-of-NNNNN.jsonl (required)")
	model   = flag.String("model", "", "model folder or checkpoint, at the same path on every worker (default: the shipped model)")
	backend = flag.String("backend", "", backendHelp())
	batch   = flag.Int("batch", pipeline.DefaultBatch, "photos detected together (1: one by one); the same batches as catmark predict --batch")
	shards  = flag.Int("shards", pipeline.DefaultShards, "files each output is written as")
	tune    = detectorflags.Add(flag.CommandLine)
)

// backendHelp is the --backend flag's help: the backends this build has, fastest first.
func backendHelp() string {
	names := engine.Available()
	return fmt.Sprintf("engine backend: %s (empty: the fastest, %s)", strings.Join(names, ", "), names[0])
}

func main() {
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: catmark-beam --input GLOB --output PREFIX [--model M] [--backend B] [detector flags] [Beam flags: --runner …]")
		flag.PrintDefaults()
	}
	flag.Parse()
	beam.Init() // on a worker, runs the worker and does not return
	if err := run(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "catmark-beam: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	if *input == "" || *output == "" {
		flag.Usage()
		return fmt.Errorf("--input and --output are required")
	}
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	settings, err := tune.Settings()
	if err != nil {
		return err
	}
	p, s := beam.NewPipelineWithRoot()
	if err := pipeline.Build(s, pipeline.Config{
		Input: *input, Output: *output, Model: *model, Backend: *backend,
		Settings: settings, Batch: *batch, Shards: *shards,
	}); err != nil {
		return err
	}
	res, err := beamx.RunWithMetrics(ctx, p)
	if err != nil {
		return err
	}
	if res != nil {
		fmt.Fprintln(os.Stderr, "catmark-beam:", pipeline.Summarize(res.Metrics()))
	}
	return nil
}

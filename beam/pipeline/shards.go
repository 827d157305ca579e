package pipeline

import (
	"bufio"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/catmark/catmark/internal/atomicfile"
)

func init() {
	register.DoFn1x2[string, int, string](&shardFn{})
	register.Function1x2(emptyShard)
	register.DoFn3x1[context.Context, int, func(*string) bool, error](&writeFn{})
	register.Iter1[string]()
}

// writeShards writes lines as the n files ResultsName(prefix, i, n) (ErrorsName with errors),
// i = 0 … n−1, each line to the shard its hash picks. Every shard is written, empty or not, so
// that no file of an earlier run under the same prefix is left looking like a part of this one.
func writeShards(s beam.Scope, lines beam.PCollection, prefix string, n int, errors bool) {
	keyed := beam.ParDo(s, &shardFn{Shards: n}, lines)
	shards := make([]int, n)
	for i := range shards {
		shards[i] = i
	}
	empty := beam.ParDo(s, emptyShard, beam.CreateList(s, shards))
	grouped := beam.GroupByKey(s, beam.Flatten(s, keyed, empty))
	beam.ParDo0(s, &writeFn{Prefix: prefix, Shards: n, Errors: errors}, grouped)
}

// shardFn keys each line with its shard: its FNV-1a hash modulo Shards.
type shardFn struct{ Shards int }

func (f *shardFn) ProcessElement(line string) (int, string) {
	h := fnv.New32a()
	io.WriteString(h, line)
	return int(h.Sum32() % uint32(f.Shards)), line
}

// emptyShard is shard i's marker, an empty line that writeFn skips: it makes sure that every
// shard gets a file.
func emptyShard(i int) (int, string) { return i, "" }

// writeFn writes one shard's lines to its file: a local one atomically (internal/atomicfile), a
// remote one with its file system's writer, which object stores commit on Close. A retried
// bundle writes the whole shard again.
type writeFn struct {
	Prefix string
	Shards int
	Errors bool // the dead letters' files (ErrorsName), not the results' (ResultsName)
}

func (f *writeFn) ProcessElement(ctx context.Context, shard int, lines func(*string) bool) error {
	name := ResultsName(f.Prefix, shard, f.Shards)
	if f.Errors {
		name = ErrorsName(f.Prefix, shard, f.Shards)
	}
	write := func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		var line string
		for lines(&line) {
			if line == "" {
				continue
			}
			bw.WriteString(line)
			bw.WriteByte('\n')
		}
		return bw.Flush()
	}
	if !isRemote(name) {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		return atomicfile.Write(name, write)
	}
	fsys, err := filesystem.New(ctx, name)
	if err != nil {
		return err
	}
	defer fsys.Close()
	w, err := fsys.OpenWrite(ctx, name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := write(w); err != nil {
		w.Close()
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

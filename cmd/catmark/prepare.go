package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/catmark/catmark/cache"
	"github.com/catmark/catmark/catdata"
)

func init() {
	register("prepare", "decode the Cat Dataset once into a packed cache with a train/val split", runPrepare)
}

func runPrepare(args []string) error {
	fs := flag.NewFlagSet("prepare", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: catmark prepare --data DIR|ZIP --out CACHE_DIR [flags]\n\nDecodes every photo of the Cat Dataset (a folder of NAME.jpg + NAME.jpg.cat, CAT_00…CAT_06\nor flat, or zip archives of it) once, resizes it to a square and writes a packed cache with a\nseeded train/val split. Photos keep their stored pixel grid, the frame of the .cat annotations\n(an EXIF orientation is not applied). Bad files are reported by name and reason, and skipped.\nFlags:")
		fs.PrintDefaults()
	}
	data := fs.String("data", "", "the dataset: a folder (searched recursively, zips inside read in place) or a .zip")
	out := fs.String("out", "", "cache folder to write (manifest.json, pixels.u8)")
	size := fs.Int("size", cache.DefaultSize, "side of the square photos in pixels (bilinear, aspect not kept)")
	split := fs.Float64("split", cache.DefaultTrainFraction, "share of photos in the train split")
	seed := fs.Int64("seed", 1, "seed of the split")
	group := fs.Bool("group-prefix", false, "keep photos sharing the 8-digit ID prefix on one side of the split")
	trainList := fs.String("train-list", "", "file of photo names for train, one a line (overrides --split)")
	valList := fs.String("val-list", "", "file of photo names for val, one a line (overrides --split)")
	workers := fs.Int("workers", 0, "decoding goroutines (0: GOMAXPROCS)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if err := parseFlags(fs, args, "data", "out"); err != nil {
		return err
	}
	opt := cache.Options{Size: *size, TrainFraction: *split, Seed: *seed, GroupByPrefix: *group, Workers: *workers}
	if !*quiet {
		opt.Progress = os.Stderr
	}
	var err error
	if *trainList != "" {
		if opt.TrainList, err = readList(*trainList); err != nil {
			return err
		}
	}
	if *valList != "" {
		if opt.ValList, err = readList(*valList); err != nil {
			return err
		}
	}
	start := time.Now()
	src, err := catdata.Scan(*data)
	if err != nil {
		return err
	}
	defer src.Close()
	if src.Len() == 0 && len(src.Problems) == 0 {
		return fmt.Errorf("%s holds no photos (NAME.jpg with NAME.jpg.cat)", *data)
	}
	sum, err := cache.Prepare(src, *out, opt)
	if err != nil {
		return err
	}
	printSummary(os.Stdout, *out, sum, opt, time.Since(start))
	if sum.Kept == 0 {
		return fmt.Errorf("no usable photos in %s", *data)
	}
	return nil
}

// readList reads photo names, one a line; blank lines and lines starting with # are ignored.
func readList(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		names = append(names, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no names", path)
	}
	return names, nil
}

// maxListed is how many names of one reason the summary prints.
const maxListed = 20

func printSummary(w io.Writer, out string, s *cache.Summary, opt cache.Options, took time.Duration) {
	total := s.Kept + len(s.Skipped)
	mb := float64(s.Kept) * float64(s.Size*s.Size*3) / 1e6
	fmt.Fprintf(w, "prepared %s: %d photos at %d×%d (%.1f MB of pixels) in %.1fs, %.0f photos/s\n",
		out, s.Kept, s.Size, s.Size, mb, took.Seconds(), float64(total)/took.Seconds())
	fmt.Fprintf(w, "kept:    %d\n", s.Kept)
	fmt.Fprintf(w, "skipped: %d\n", len(s.Skipped))
	by := map[string][]cache.Skip{}
	for _, k := range s.Skipped {
		by[k.Reason] = append(by[k.Reason], k)
	}
	reasons := make([]string, 0, len(catdata.Reasons))
	for _, r := range catdata.Reasons {
		reasons = append(reasons, string(r))
	}
	for r := range by { // reasons this binary does not know, should a manifest hold any
		known := false
		for _, k := range reasons {
			known = known || k == r
		}
		if !known {
			reasons = append(reasons, r)
		}
	}
	for _, r := range reasons {
		list := by[r]
		if len(list) == 0 {
			continue
		}
		fmt.Fprintf(w, "  %s: %d\n", r, len(list))
		for i, k := range list {
			if i == maxListed {
				fmt.Fprintf(w, "    … and %d more (all are in the manifest)\n", len(list)-maxListed)
				break
			}
			fmt.Fprintf(w, "    %s: %s\n", k.Name, k.Detail)
		}
	}
	fmt.Fprintf(w, "points outside the frame: %d points in %d photos (kept, unclipped, in the manifest)\n", s.OutsidePoints, s.OutsidePhotos)
	how := fmt.Sprintf("seeded: train fraction %g, seed %d", opt.TrainFraction, opt.Seed)
	if opt.TrainFraction == 0 {
		how = fmt.Sprintf("seeded: train fraction %g, seed %d", cache.DefaultTrainFraction, opt.Seed)
	}
	if opt.GroupByPrefix {
		how += ", grouped by ID prefix"
	}
	if len(opt.TrainList) > 0 || len(opt.ValList) > 0 {
		how = "from the lists"
	}
	fmt.Fprintf(w, "split (%s): train %d, val %d", how, s.Train, s.Val)
	if s.Unassigned > 0 {
		fmt.Fprintf(w, ", in neither %d", s.Unassigned)
	}
	fmt.Fprintf(w, "; ID prefixes on both sides: %d\n", s.SharedPrefixes)
	if n := len(s.UnknownNames); n > 0 {
		fmt.Fprintf(w, "warning: %d names in the lists match no kept photo:", n)
		for i, name := range s.UnknownNames {
			if i == maxListed {
				fmt.Fprintf(w, " … and %d more", n-maxListed)
				break
			}
			fmt.Fprintf(w, " %s", name)
		}
		fmt.Fprintln(w)
	}
}
